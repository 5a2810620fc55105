"""The deterministic demo data set: `marketloop demo` (and the first `marketloop run`).

What it holds (default size; `--accounts`, `--contacts` and `--large` change the counts):

- the standard organisation (HQ and its 7 departments, 7 regions, 31 provinces, each with a
  key-account and a sales department) and one partner per province, with Chinese company names
  such as 广州粤信软件有限公司;
- about 250 users in every role and every kind of unit, with Chinese display names:
  HQ marketers, key-account managers, presales consultants and project managers (service line),
  supervisors (督查部), trainers (合作伙伴培训认证部), administrators; a manager per region; per
  province a manager and account managers in the key-account department, a manager and sales
  reps in the sales department, and partner staff in the province's partner; a general
  manager in the larger provinces;
- 20,000 accounts (1,000,000 with `--large`) in the 12 industries: realistic Chinese company
  names (city or province + brand + trade + 有限公司 / 股份有限公司 / 集团), some groups with
  subsidiaries in other provinces (``parent``), valid and unique unified social credit codes,
  provinces weighted by their economy, ranks 1..N within each industry for its largest 60%
  (at most 5,000 per industry; the rest unranked), revenue bands that follow the rank, and
  tier, owning unit, partner, owner and tier reason decided by the same `Router` the services
  use, so the tier rules hold;
- three contacts per account on average (1,000,000 with `--large`), weighted towards the larger
  accounts: Chinese names, titles (CIO, 信息中心主任, 财务总监, IT经理 ...), a management flag,
  unique e-mail addresses on the company's domain, valid mobile numbers in E.164
  (+86 13x/15x/18x/19x), owner unit, owner and partner copied from the account;
- consent records (EDM, magazine, event invitations; a few withdrawn) for about 30% of them.

The same seed gives the same rows in the same order. A second run finds the data and stops.

Demo logins, all with the password `marketloop.cli.DEMO_PASSWORD` (see `DEMO_LOGINS`):
admin, hq.marketer, hq.ka, hq.presales, hq.pm, supervisor, trainer, south.manager,
gd.manager, gd.ka, gd.sales, gd.partner. Every other user follows the same pattern
(`<province>.ka2`, `<province>.sales3`, `<province>.partner2`, `<region>.manager`, ...).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import gc
import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from stdnum.cn.uscc import calc_check_digit

DEMO_LOGINS: list[tuple[str, str]] = [
    ("admin", "Administrator, HQ — sees and administers everything"),
    ("hq.marketer", "Marketer, HQ marketing department — sees everything"),
    ("hq.ka", "Account manager, HQ key-account department — owns industry top-100 accounts"),
    ("hq.presales", "Presales consultant, HQ service line"),
    ("hq.pm", "Project manager, HQ service line"),
    ("supervisor", "Supervisor, HQ supervision department — reads everything"),
    ("trainer", "Trainer, HQ partner academy"),
    ("south.manager", "Manager, South China region — sees Guangdong, Guangxi and Hainan"),
    ("gd.manager", "Manager, Guangdong sales department — sees Guangdong only"),
    ("gd.ka", "Account manager, Guangdong key-account department — sees Guangdong only"),
    ("gd.sales", "Sales rep, Guangdong sales department — sees Guangdong only"),
    ("gd.partner", "Partner staff, Guangdong partner — sees its partner's accounts only"),
]

DEFAULT_SEED = 20261125
# Every date in the data set lies in the five years before this moment (fixed, so that the
# same seed gives the same rows whenever it is built).
ANCHOR = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
SPAN_SECONDS = 5 * 365 * 86400
# Above this many accounts into an empty table, secondary indexes and foreign keys are dropped
# before COPY and rebuilt after it: much faster than maintaining them row by row.
BULK_THRESHOLD = 100_000

# ---------------------------------------------------------------------------------------------
# Reference tables: provinces, cities, names.
# ---------------------------------------------------------------------------------------------

# province code -> (relative weight by economy and head offices, short name, its pinyin,
#                   [(city, pinyin, [division codes])])
PROVINCES: dict[str, tuple[float, str, str, list[tuple[str, str, list[str]]]]] = {
    "bj": (9.0, "京", "jing", [("北京", "beijing", ["110101", "110102", "110105", "110108"])]),
    "tj": (1.8, "津", "jin", [("天津", "tianjin", ["120101", "120104", "120116"])]),
    "he": (4.2, "冀", "ji", [("石家庄", "shijiazhuang", ["130100"]),
                            ("唐山", "tangshan", ["130200"]), ("保定", "baoding", ["130600"]),
                            ("廊坊", "langfang", ["131000"])]),
    "sx": (2.5, "晋", "jin", [("太原", "taiyuan", ["140100"]), ("大同", "datong", ["140200"]),
                            ("长治", "changzhi", ["140400"])]),
    "nm": (2.3, "蒙", "meng", [("呼和浩特", "huhehaote", ["150100"]),
                             ("包头", "baotou", ["150200"]), ("鄂尔多斯", "eerduosi", ["150600"])]),
    "ln": (3.0, "辽", "liao", [("沈阳", "shenyang", ["210100"]), ("大连", "dalian", ["210200"]),
                             ("鞍山", "anshan", ["210300"])]),
    "jl": (1.4, "吉", "ji", [("长春", "changchun", ["220100"]), ("吉林", "jilin", ["220200"])]),
    "hl": (1.6, "龙", "long", [("哈尔滨", "haerbin", ["230100"]), ("大庆", "daqing", ["230600"]),
                             ("齐齐哈尔", "qiqihaer", ["230200"])]),
    "sh": (9.5, "沪", "hu", [("上海", "shanghai", ["310101", "310104", "310112", "310115"])]),
    "js": (13.0, "苏", "su", [("南京", "nanjing", ["320100"]), ("苏州", "suzhou", ["320500"]),
                             ("无锡", "wuxi", ["320200"]), ("常州", "changzhou", ["320400"]),
                             ("南通", "nantong", ["320600"]), ("徐州", "xuzhou", ["320300"])]),
    "zj": (9.5, "浙", "zhe", [("杭州", "hangzhou", ["330100"]), ("宁波", "ningbo", ["330200"]),
                             ("温州", "wenzhou", ["330300"]), ("绍兴", "shaoxing", ["330600"]),
                             ("嘉兴", "jiaxing", ["330400"]), ("金华", "jinhua", ["330700"])]),
    "ah": (4.5, "皖", "wan", [("合肥", "hefei", ["340100"]), ("芜湖", "wuhu", ["340200"])]),
    "fj": (5.0, "闽", "min", [("福州", "fuzhou", ["350100"]), ("厦门", "xiamen", ["350200"]),
                             ("泉州", "quanzhou", ["350500"])]),
    "jx": (3.0, "赣", "gan", [("南昌", "nanchang", ["360100"]), ("赣州", "ganzhou", ["360700"]),
                             ("九江", "jiujiang", ["360400"])]),
    "sd": (9.5, "鲁", "lu", [("济南", "jinan", ["370100"]), ("青岛", "qingdao", ["370200"]),
                            ("烟台", "yantai", ["370600"]), ("潍坊", "weifang", ["370700"]),
                            ("临沂", "linyi", ["371300"])]),
    "ha": (5.5, "豫", "yu", [("郑州", "zhengzhou", ["410100"]), ("洛阳", "luoyang", ["410300"]),
                            ("南阳", "nanyang", ["411300"])]),
    "hb": (5.3, "鄂", "e", [("武汉", "wuhan", ["420100"]), ("宜昌", "yichang", ["420500"]),
                           ("襄阳", "xiangyang", ["420600"])]),
    "hn": (4.8, "湘", "xiang", [("长沙", "changsha", ["430100"]), ("株洲", "zhuzhou", ["430200"]),
                               ("岳阳", "yueyang", ["430600"])]),
    "gd": (14.0, "粤", "yue", [("广州", "guangzhou", ["440100"]), ("深圳", "shenzhen", ["440300"]),
                              ("东莞", "dongguan", ["441900"]), ("佛山", "foshan", ["440600"]),
                              ("珠海", "zhuhai", ["440400"]), ("惠州", "huizhou", ["441300"])]),
    "gx": (2.6, "桂", "gui", [("南宁", "nanning", ["450100"]), ("柳州", "liuzhou", ["450200"]),
                             ("桂林", "guilin", ["450300"])]),
    "hi": (0.8, "琼", "qiong", [("海口", "haikou", ["460100"]), ("三亚", "sanya", ["460200"])]),
    "cq": (3.0, "渝", "yu", [("重庆", "chongqing", ["500103", "500105", "500112"])]),
    "sc": (5.8, "蜀", "shu", [("成都", "chengdu", ["510100"]), ("绵阳", "mianyang", ["510700"]),
                             ("宜宾", "yibin", ["511500"])]),
    "gz": (2.0, "黔", "qian", [("贵阳", "guiyang", ["520100"]), ("遵义", "zunyi", ["520300"])]),
    "yn": (2.8, "滇", "dian", [("昆明", "kunming", ["530100"]), ("曲靖", "qujing", ["530300"])]),
    "xz": (0.25, "藏", "zang", [("拉萨", "lasa", ["540100"])]),
    "sn": (3.3, "秦", "qin", [("西安", "xian", ["610100"]), ("宝鸡", "baoji", ["610300"]),
                             ("榆林", "yulin", ["610800"])]),
    "gs": (1.2, "陇", "long", [("兰州", "lanzhou", ["620100"]), ("天水", "tianshui", ["620500"])]),
    "qh": (0.4, "青", "qing", [("西宁", "xining", ["630100"])]),
    "nx": (0.55, "宁", "ning", [("银川", "yinchuan", ["640100"])]),
    "xj": (1.9, "新", "xin", [("乌鲁木齐", "wulumuqi", ["650100"]),
                             ("克拉玛依", "kelamayi", ["650200"])]),
}
MUNICIPALITIES = {"bj", "tj", "sh", "cq"}
# Head offices gather where the economy is largest: their accounts rank a little higher.
PROVINCE_SIZE_FACTOR = {"bj": 1.8, "sh": 1.8, "gd": 1.3, "js": 1.25, "zj": 1.25, "sd": 1.15}
LARGE_PROVINCES = {"gd", "js", "zj", "sd", "bj", "sh"}
MEDIUM_PROVINCES = {"sc", "ha", "hb", "fj", "hn", "ah", "he", "sn", "ln", "cq"}



def _pairs(text: str) -> list[tuple[str, str]]:
    """"华hua 欧阳ouyang" -> [("华", "hua"), ("欧阳", "ouyang")]."""
    out = []
    for token in text.split():
        cut = next(i for i, ch in enumerate(token) if ch.isascii())
        out.append((token[:cut], token[cut:]))
    return out


BRAND_CHARS = (
    "华hua 中zhong 新xin 天tian 海hai 恒heng 瑞rui 鑫xin 泰tai 盛sheng 达da 宏hong 安an 博bo "
    "通tong 信xin 汇hui 嘉jia 和he 凯kai 明ming 东dong 方fang 金jin 润run 丰feng 诚cheng "
    "远yuan 航hang 创chuang 兴xing 隆long 昌chang 永yong 佳jia 荣rong 德de 利li 元yuan 正zheng "
    "光guang 辉hui 星xing 宇yu 广guang 裕yu 康kang 益yi 景jing 源yuan 腾teng 飞fei 云yun 智zhi "
    "科ke 联lian 力li 万wan 富fu 锦jin 启qi 舜shun 尚shang 晨chen 峰feng 亿yi 众zhong 合he "
    "铭ming 卓zhuo 越yue 致zhi 浩hao 坤kun 乾qian 鼎ding 祥xiang 顺shun 邦bang 威wei 捷jie "
    "睿rui 锐rui 弘hong 晟sheng 洲zhou 蓝lan 青qing 辰chen 朗lang 川chuan 奥ao 伟wei 友you "
    "精jing 图tu 策ce 融rong 赛sai 腾teng 华hua 宁ning 瀚han"
)
BRAND = sorted(set(_pairs(BRAND_CHARS)))

# industry code -> weight, [(trade word, its pinyin, its suffixes)]; a suffix of "" means the
# word already ends the name (a hospital, a bank, a school).
CO = ("有限公司", "有限公司", "有限公司", "股份有限公司")
TRADES: dict[str, tuple[float, list[tuple[str, str, tuple[str, ...]]]]] = {
    "manufacturing": (18, [("机械", "jixie", CO), ("电子", "dianzi", CO),
                           ("精密制造", "jingmi", CO), ("汽车零部件", "qipei", CO),
                           ("智能装备", "zhuangbei", CO), ("化工", "huagong", CO),
                           ("电气", "dianqi", CO), ("新材料", "cailiao", CO),
                           ("重工", "zhonggong", CO), ("家电", "jiadian", CO)]),
    "finance": (7, [("证券", "securities", ("股份有限公司",)), ("保险", "insurance", CO),
                    ("融资租赁", "leasing", ("有限公司",)), ("信托", "trust", ("有限公司",)),
                    ("投资", "invest", CO), ("资产管理", "am", ("有限公司",)),
                    ("农村商业银行", "bank", ("股份有限公司",)),
                    ("小额贷款", "credit", ("有限公司",)), ("期货", "futures", ("有限公司",))]),
    "energy": (5, [("能源", "energy", CO), ("电力", "power", CO), ("新能源", "newenergy", CO),
                   ("燃气", "gas", CO), ("石化", "petro", CO), ("光伏", "solar", CO),
                   ("储能科技", "storage", CO), ("热电", "thermal", CO)]),
    "telecom": (3, [("通信", "tongxin", CO), ("通讯技术", "tongxun", CO), ("网络", "net", CO),
                    ("光电", "guangdian", CO), ("信息产业", "xinxi", CO),
                    ("广电网络", "catv", CO)]),
    "government": (7, [("城市建设投资", "ctjt", ("有限公司", "集团有限公司")),
                       ("智慧城市", "smartcity", ("有限公司",)),
                       ("国有资产运营", "gzyy", ("有限公司",)),
                       ("公共资源交易服务", "ggzy", ("有限公司",)),
                       ("数字政务", "egov", ("有限公司",)), ("城市发展", "cfjt", ("集团有限公司",)),
                       ("大数据", "bigdata", ("有限公司",))]),
    "healthcare": (9, [("医药", "pharma", CO), ("医疗器械", "medical", CO), ("生物科技", "bio", CO),
                       ("健康产业", "health", CO), ("制药", "zhiyao", CO),
                       ("医院", "hospital", ("",)), ("医院管理", "hm", ("有限公司",)),
                       ("检测技术", "lab", CO)]),
    "education": (6, [("教育科技", "edu", CO), ("职业技术学院", "college", ("",)),
                      ("实验学校", "school", ("",)), ("培训", "training", ("有限公司",)),
                      ("文化传媒", "media", CO), ("出版", "press", ("有限公司",))]),
    "retail": (11, [("商贸", "trading", CO), ("百货", "baihuo", CO), ("超市", "mart", CO),
                    ("电子商务", "ec", CO), ("连锁", "chain", CO), ("供应链", "scm", CO),
                    ("食品销售", "food", CO), ("家居", "home", CO)]),
    "logistics": (8, [("物流", "logistics", CO), ("运输", "transport", CO),
                      ("航运", "shipping", CO), ("快递", "express", CO), ("港务", "port", CO),
                      ("供应链管理", "supply", CO),
                      ("冷链", "coldchain", CO), ("国际货运代理", "freight", ("有限公司",))]),
    "construction": (10, [("建设", "jianshe", CO), ("建工", "jiangong", CO),
                          ("房地产开发", "realestate", ("有限公司",)), ("置业", "zhiye", CO),
                          ("建筑设计", "design", CO), ("工程", "engineering", CO),
                          ("装饰工程", "decor", CO), ("物业服务", "property", CO)]),
    "internet": (8, [("网络科技", "tech", CO), ("信息技术", "it", CO), ("数字科技", "digital", CO),
                     ("互联网科技", "internet", CO), ("软件", "soft", CO), ("云计算", "cloud", CO),
                     ("人工智能", "ai", CO)]),
    "agriculture": (5, [("农业发展", "agri", CO), ("种业", "seed", CO), ("牧业", "muye", CO),
                        ("食品", "food", CO), ("农牧", "nongmu", CO), ("生态农业", "eco", CO),
                        ("水产", "aqua", CO)]),
}
AGENCIES = [("政务服务数据管理局", "zwsj"), ("财政局", "czj"), ("税务局", "tax"),
            ("公安局", "gaj"), ("卫生健康委员会", "wjw"), ("教育局", "jyj"), ("交通运输局", "jtj"),
            ("人力资源和社会保障局", "rsj"), ("住房和城乡建设局", "zjj"),
            ("市场监督管理局", "scjg"), ("自然资源局", "zrzy"), ("生态环境局", "sthj"),
            ("应急管理局", "yjj"), ("工业和信息化局", "gxj"), ("商务局", "swj")]

SURNAMES = (
    "王wang 李li 张zhang 刘liu 陈chen 杨yang 黄huang 赵zhao 吴wu 周zhou 徐xu 孙sun 马ma "
    "朱zhu 胡hu 郭guo 何he 高gao 林lin 罗luo 郑zheng 梁liang 谢xie 宋song 唐tang 许xu 韩han "
    "冯feng 邓deng 曹cao 彭peng 曾zeng 肖xiao 田tian 董dong 袁yuan 潘pan 于yu 蒋jiang 蔡cai "
    "余yu 杜du 叶ye 程cheng 苏su 魏wei 吕lv 丁ding 任ren 沈shen 姚yao 卢lu 姜jiang 崔cui "
    "钟zhong 谭tan 陆lu 汪wang 范fan 金jin 石shi 廖liao 贾jia 夏xia 韦wei 方fang 白bai 邹zou "
    "孟meng 熊xiong 秦qin 邱qiu 江jiang 尹yin 薛xue 段duan 雷lei 侯hou 龙long 史shi 陶tao "
    "黎li 贺he 顾gu 毛mao 郝hao 龚gong 邵shao 万wan 钱qian 严yan 武wu 戴dai 孔kong 汤tang "
    "欧阳ouyang 司马sima 上官shangguan"
)
# Common surnames come first: weight falls with position.
SURNAME = _pairs(SURNAMES)
GIVEN_CHARS = (
    "伟wei 芳fang 娜na 敏min 静jing 丽li 强qiang 磊lei 军jun 洋yang 勇yong 艳yan 杰jie "
    "娟juan 涛tao 明ming 超chao 秀xiu 霞xia 平ping 刚gang 英ying 华hua 文wen 辉hui 建jian "
    "国guo 玉yu 兰lan 鹏peng 飞fei 波bo 宇yu 浩hao 晨chen 欣xin 怡yi 佳jia 俊jun 婷ting "
    "雪xue 琳lin 子zi 轩xuan 博bo 思si 雨yu 涵han 梓zi 睿rui 颖ying 海hai 峰feng 志zhi "
    "新xin 春chun 红hong 庆qing 晓xiao 东dong 学xue 小xiao 斌bin 凯kai 亮liang 成cheng "
    "健jian 林lin 帆fan 然ran 璐lu 倩qian 蕾lei 晶jing 慧hui 嘉jia 鑫xin 泽ze 宁ning 彬bin "
    "昊hao 瑶yao 阳yang 诚cheng 坤kun 萍ping 燕yan 丹dan 云yun 楠nan 悦yue 晗han 一yi"
)
GIVEN = _pairs(GIVEN_CHARS)

# (title, management level, weight)
TITLES = [
    ("首席信息官", True, 3), ("CIO", True, 3), ("信息中心主任", True, 6),
    ("信息中心副主任", True, 4), ("财务总监", True, 5), ("总经理", True, 3),
    ("副总经理", True, 4), ("副总裁", True, 2), ("CTO", True, 2),
    ("数字化转型办公室主任", True, 2), ("采购总监", True, 3),
    ("IT经理", False, 10), ("采购经理", False, 8), ("网络工程师", False, 7),
    ("系统管理员", False, 7), ("项目经理", False, 8), ("数据分析师", False, 5),
    ("运维主管", False, 6), ("信息安全主管", False, 4), ("行政主管", False, 4),
    ("市场经理", False, 4), ("财务经理", False, 5), ("软件开发工程师", False, 5),
]
TITLE_CUM = list(itertools.accumulate(w for _t, _m, w in TITLES))

MOBILE_PREFIXES = ([f"13{d}" for d in range(10)] + [f"15{d}" for d in range(10) if d != 4]
                   + [f"18{d}" for d in range(10)] + [f"19{d}" for d in range(10) if d != 4])

CONSENT_PURPOSES = ["EDM 月度资讯", "双月刊订阅", "活动与沙龙邀请", "产品试用回访"]
# (method, weight, evidence)
CONSENT_METHODS = [("web_form", 45, "官网表单提交, 已勾选同意条款"),
                   ("event", 25, "活动签到表, 现场签字"),
                   ("email", 15, "邮件回复确认"),
                   ("paper", 8, "纸质授权书, 已扫描存档"),
                   ("phone", 7, "电话确认, 录音存档")]

BANDS_BY_RANK = [  # (rank up to, [(band, weight), ...]); None = unranked
    (100, [("xlarge", 60), ("large", 40)]),
    (500, [("xlarge", 10), ("large", 45), ("medium", 45)]),
    (2000, [("large", 15), ("medium", 45), ("small", 35), ("micro", 5)]),
    (None, [("large", 5), ("medium", 30), ("small", 45), ("micro", 15), ("", 5)]),
]
BANDS_UNRANKED = [("large", 1), ("medium", 9), ("small", 42), ("micro", 45), ("", 3)]
CONTACT_WEIGHT = {"xlarge": 8.0, "large": 5.0, "medium": 3.0, "small": 2.0, "micro": 1.2, "": 1.0}
# Industry rankings cover the largest companies only: 60% of each industry, at most 5,000.
RANKED_SHARE, RANKED_MAX = 0.6, 5000


def _pick_weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p for p, _w in pairs], weights=[w for _p, w in pairs])[0]


def _org_code(rng: random.Random) -> str:
    """An organisation code (GB 11714): eight digits and its check character."""
    body = f"{rng.randrange(10**8):08d}"
    check = 11 - sum(int(d) * w for d, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def credit_code(rng: random.Random, division: str) -> str:
    """A unified social credit code: 9 (market regulator), 1 (enterprise), the division code,
    the organisation code, and the check character computed by python-stdnum."""
    head = "91" + division + _org_code(rng)
    return head + calc_check_digit(head)


def mobile_number(rng: random.Random) -> str:
    return f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"


def person_name(rng: random.Random) -> tuple[str, str, str, str]:
    """(full name, surname, given name, pinyin of given name + '.' + pinyin of surname)."""
    index = min(int(rng.expovariate(1 / 18)), len(SURNAME) - 1)
    surname, s_py = SURNAME[index]
    parts = [rng.choice(GIVEN) for _ in range(1 if rng.random() < 0.35 else 2)]
    given = "".join(c for c, _p in parts)
    return surname + given, surname, given, "".join(p for _c, p in parts) + "." + s_py


# ---------------------------------------------------------------------------------------------
# The generators: pure functions of the seed and the counts (no database).
# ---------------------------------------------------------------------------------------------


class AccountSpec(NamedTuple):
    name: str
    credit_code: str
    industry: str  # industry code
    province: str  # province unit code
    rank: int | None
    revenue_band: str
    parent: int | None  # index into the generated list
    domain: str
    created_at: dt.datetime


class ContactSpec(NamedTuple):
    account: int  # index into the accounts
    name: str
    title: str
    is_management: bool
    email: str
    mobile: str
    created_at: dt.datetime


class ConsentSpec(NamedTuple):
    contact: int  # index into the contacts
    purpose: str
    granted: bool
    method: str
    evidence: str
    recorded_at: dt.datetime


def generate_accounts(count: int, seed: int = DEFAULT_SEED) -> list[AccountSpec]:
    """The demo accounts, in id order. Same seed and count, same list."""
    rng = random.Random(f"{seed}:accounts")
    industry_codes = list(TRADES)
    industry_cum = list(itertools.accumulate(TRADES[c][0] for c in industry_codes))
    province_codes = list(PROVINCES)
    province_cum = list(itertools.accumulate(PROVINCES[c][0] for c in province_codes))

    # Who they are: industry, province, city and a size score that decides the rank.
    industries = rng.choices(industry_codes, cum_weights=industry_cum, k=count)
    provinces = rng.choices(province_codes, cum_weights=province_cum, k=count)
    cities = [rng.choice(PROVINCES[p][3]) for p in provinces]
    scores = [rng.lognormvariate(0, 1.0) * PROVINCE_SIZE_FACTOR.get(p, 1.0) for p in provinces]

    # Ranks 1..N within each industry for the largest RANKED_SHARE of it.
    by_industry: dict[str, list[int]] = {}
    for i, code in enumerate(industries):
        by_industry.setdefault(code, []).append(i)
    ranks: list[int | None] = [None] * count
    for members in by_industry.values():
        members.sort(key=lambda i: (-scores[i], i))
        ranked_count = min(round(len(members) * RANKED_SHARE), RANKED_MAX)
        for rank, i in enumerate(members[:ranked_count], start=1):
            ranks[i] = rank

    bands = []
    for rank in ranks:
        if rank is None:
            bands.append(_pick_weighted(rng, BANDS_UNRANKED))
        else:
            table = next(t for limit, t in BANDS_BY_RANK if limit is None or rank <= limit)
            bands.append(_pick_weighted(rng, table))

    # Groups: some of the top tenth of each industry, with subsidiaries from further down.
    parents: list[int | None] = [None] * count
    groups: set[int] = set()
    for code in industry_codes:
        members = by_industry.get(code, [])
        ranked = [i for i in members if ranks[i] is not None]
        top = ranked[: max(1, len(ranked) // 10)] if len(members) >= 10 else []
        top_set = set(top)
        pool = [i for i in members if i not in top_set]
        rng.shuffle(pool)
        for i in top:
            if rng.random() < 0.3 and pool:
                groups.add(i)
                for _ in range(min(rng.randint(1, 6), len(pool))):
                    parents[pool.pop()] = i

    names: set[str] = set()
    domains: set[str] = set()
    agencies_used: set[tuple[str, str]] = set()
    brand_of: dict[int, tuple[str, str, str, str, str]] = {}
    specs: list[AccountSpec] = []
    order = sorted(range(count), key=lambda i: (parents[i] is not None, i))  # parents first
    name_of: dict[int, tuple[str, str]] = {}
    for i in order:
        code, province = industries[i], provinces[i]
        city, city_py, divisions = cities[i]
        name = domain = ""
        parent = parents[i]
        if parent is not None:
            brand, brand_py, trade, trade_py, group_domain = brand_of[parent]
            candidate = f"{brand}{trade}（{city}）有限公司"
            if candidate not in names:
                name, domain = candidate, group_domain
            else:
                parents[i] = None
        if not name and code == "government" and i not in groups and rng.random() < 0.3:
            agency, agency_py = rng.choice(AGENCIES)
            if (city, agency) not in agencies_used:
                agencies_used.add((city, agency))
                name = f"{city}市{agency}"
                domain = f"{agency_py}.{city_py}.gov.cn"
        if not name:
            trades = TRADES[code][1]
            if i in groups:  # a group needs a company name its subsidiaries can share
                trades = [t for t in trades if t[2] != ("",)]
            prefix, prefix_py = city, city_py
            if province not in MUNICIPALITIES and rng.random() < 0.15:
                prefix, prefix_py = _province_names()[province]
            for attempt in range(200):
                chars = rng.sample(BRAND, 3 if attempt > 40 or rng.random() < 0.08 else 2)
                brand = "".join(c for c, _p in chars)
                brand_py = "".join(p for _c, p in chars)
                trade, trade_py, suffixes = rng.choice(trades)
                suffix = rng.choice(suffixes)
                if i in groups and suffix:
                    suffix = rng.choice(("集团有限公司", "集团股份有限公司"))
                name = f"{prefix}{brand}{trade}{suffix}"
                if name not in names:
                    break
            else:  # pragma: no cover - 200 collisions in a row: practically impossible
                name = f"{prefix}{brand}{trade}{len(names)}{suffix}"
            domain = _unique_domain(domains, brand_py, trade_py, prefix_py)
            if i in groups:
                brand_of[i] = (brand, brand_py, trade, trade_py, domain)
        names.add(name)
        name_of[i] = (name, domain)
    for i in range(count):
        city, _py, divisions = cities[i]
        name, domain = name_of[i]
        specs.append(AccountSpec(
            name=name, credit_code="", industry=industries[i], province=provinces[i],
            rank=ranks[i], revenue_band=bands[i], parent=parents[i], domain=domain,
            created_at=ANCHOR - dt.timedelta(seconds=rng.randrange(SPAN_SECONDS)),
        ))
    # Credit codes last, in id order, unique.
    codes: set[str] = set()
    for i, spec in enumerate(specs):
        divisions = cities[i][2]
        while True:
            code = credit_code(rng, rng.choice(divisions))
            if code not in codes:
                codes.add(code)
                break
        specs[i] = spec._replace(credit_code=code)
    return specs


@functools.cache
def _province_names() -> dict[str, tuple[str, str]]:
    """province code -> (Chinese name, pinyin-ish), for names such as 广东华信电子有限公司."""
    from marketloop.org.standard import REGIONS

    return {code: (name, name_en.lower().replace(" ", ""))
            for _r, _n, _e, provinces in REGIONS for code, name, name_en in provinces}


def _unique_domain(used: set[str], brand_py: str, trade_py: str, prefix_py: str) -> str:
    for candidate in (f"{brand_py}{trade_py}.com", f"{brand_py}{trade_py}.com.cn",
                      f"{prefix_py}{brand_py}.com", f"{brand_py}-{trade_py}.cn",
                      f"{prefix_py}-{brand_py}{trade_py}.com"):
        if candidate not in used:
            used.add(candidate)
            return candidate
    for n in itertools.count(2):
        candidate = f"{brand_py}{trade_py}{n}.com"
        if candidate not in used:
            used.add(candidate)
            return candidate
    raise AssertionError("unreachable")


def contacts_per_account(accounts: list[AccountSpec], count: int, seed: int) -> list[int]:
    """How many contacts each account gets: `count` in all, more for the larger accounts."""
    rng = random.Random(f"{seed}:contact-counts")
    if not accounts:
        return []
    cum = list(itertools.accumulate(CONTACT_WEIGHT[a.revenue_band] for a in accounts))
    per = [0] * len(accounts)
    total = cum[-1]
    for _ in range(count):
        per[bisect.bisect_left(cum, rng.random() * total)] += 1
    return per


def generate_contacts(accounts: list[AccountSpec], count: int,
                      seed: int = DEFAULT_SEED) -> Iterator[ContactSpec]:
    """The demo contacts, in id order (grouped by account). Same inputs, same rows."""
    rng = random.Random(f"{seed}:contacts")
    per = contacts_per_account(accounts, count, seed)
    emails: set[str] = set()
    mobiles: set[str] = set()
    titles = [t for t, _m, _w in TITLES]
    management = {t: m for t, m, _w in TITLES}
    now_seconds = int(ANCHOR.timestamp())
    for index, (account, n) in enumerate(zip(accounts, per, strict=True)):
        if not n:
            continue
        account_age = now_seconds - int(account.created_at.timestamp())
        for _ in range(n):
            name, _surname, _given, local = person_name(rng)
            title = rng.choices(titles, cum_weights=TITLE_CUM)[0]
            email = ""
            if rng.random() < 0.95:
                given_py, surname_py = local.split(".")
                style = rng.random()
                base = (f"{given_py}.{surname_py}" if style < 0.4 else
                        f"{surname_py}{given_py}" if style < 0.8 else f"{surname_py}.{given_py}")
                email = f"{base}@{account.domain}"
                n_try = 1
                while email in emails:
                    n_try += 1
                    email = f"{base}{n_try}@{account.domain}"
                emails.add(email)
            mobile = ""
            if rng.random() < 0.9:
                mobile = mobile_number(rng)
                while mobile in mobiles:
                    mobile = mobile_number(rng)
                mobiles.add(mobile)
            yield ContactSpec(
                account=index, name=name, title=title, is_management=management[title],
                email=email, mobile=mobile,
                created_at=account.created_at + dt.timedelta(
                    seconds=rng.randrange(max(account_age, 1))),
            )


def generate_consents(contacts_created: Iterator[tuple[int, dt.datetime]],
                      seed: int = DEFAULT_SEED) -> Iterator[ConsentSpec]:
    """Consent for about 30% of the contacts; a few later withdrawn."""
    rng = random.Random(f"{seed}:consents")
    methods = [m for m, _w, _e in CONSENT_METHODS]
    evidence = {m: e for m, _w, e in CONSENT_METHODS}
    method_cum = list(itertools.accumulate(w for _m, w, _e in CONSENT_METHODS))
    now_seconds = int(ANCHOR.timestamp())
    for index, created_at in contacts_created:
        if rng.random() >= 0.3:
            continue
        for purpose in rng.sample(CONSENT_PURPOSES, rng.choice((1, 1, 1, 2))):
            method = rng.choices(methods, cum_weights=method_cum)[0]
            age = max(now_seconds - int(created_at.timestamp()), 2)
            at = created_at + dt.timedelta(seconds=rng.randrange(age // 2))
            yield ConsentSpec(index, purpose, True, method, evidence[method], at)
            if rng.random() < 0.06:
                later = at + dt.timedelta(seconds=rng.randrange(max(age // 2, 1)))
                yield ConsentSpec(index, purpose, False, "email", "回复退订", later)


# ---------------------------------------------------------------------------------------------
# The organisation: partners and users.
# ---------------------------------------------------------------------------------------------

PARTNER_WORDS = [("信", "xin"), ("联", "lian"), ("通", "tong"), ("智", "zhi"), ("达", "da"),
                 ("创", "chuang"), ("华", "hua"), ("云", "yun"), ("数", "shu"), ("科", "ke")]
PARTNER_TRADES = [("软件", "Software"), ("信息技术", "Information Technology"),
                  ("科技", "Technology"), ("数据科技", "Data Technology"),
                  ("网络科技", "Network Technology"), ("系统集成", "Systems Integration")]


def partner_names(seed: int = DEFAULT_SEED) -> dict[str, tuple[str, str]]:
    """province code -> (Chinese name, English name) of its partner."""
    rng = random.Random(f"{seed}:partners")
    out = {}
    for code, (_w, short, short_py, cities) in PROVINCES.items():
        city, city_py, _d = cities[0]
        word, word_py = rng.choice(PARTNER_WORDS)
        trade, trade_en = rng.choice(PARTNER_TRADES)
        out[code] = (f"{city}{short}{word}{trade}有限公司",
                     f"{city_py.title()} {(short_py + word_py).title()} {trade_en} Co., Ltd.")
    return out


@dataclass(frozen=True)
class UserSpec:
    username: str
    unit: str  # unit code
    roles: tuple[str, ...]
    superuser: bool = False


def user_specs() -> list[UserSpec]:
    """Every demo user, in id order."""
    from marketloop.org.models import Role as R
    from marketloop.org.standard import REGIONS

    specs = [UserSpec("admin", "hq", (R.ADMINISTRATOR,), superuser=True),
             UserSpec("hq.admin2", "hq", (R.ADMINISTRATOR,))]

    def team(prefix: str, unit: str, roles: tuple[str, ...], n: int) -> None:
        for k in range(1, n + 1):
            specs.append(UserSpec(prefix if k == 1 else f"{prefix}{k}", unit, roles))

    team("hq.marketing.manager", "hq-marketing", (R.MANAGER, R.MARKETER), 1)
    team("hq.marketer", "hq-marketing", (R.MARKETER,), 6)
    team("hq.research", "hq-research", (R.MARKETER,), 2)
    team("hq.ka.manager", "hq-key-account", (R.MANAGER,), 1)
    team("hq.ka", "hq-key-account", (R.ACCOUNT_MANAGER,), 8)
    team("hq.salesops.manager", "hq-sales-management", (R.MANAGER,), 1)
    team("hq.salesops", "hq-sales-management", (R.MANAGER,), 1)
    team("supervisor", "hq-supervision", (R.SUPERVISOR,), 3)
    team("trainer", "hq-academy", (R.TRAINER,), 3)
    team("hq.academy.manager", "hq-academy", (R.MANAGER, R.TRAINER), 1)
    team("hq.service.manager", "hq-service-line", (R.MANAGER,), 1)
    team("hq.presales", "hq-service-line", (R.PRESALES,), 4)
    team("hq.pm", "hq-service-line", (R.PROJECT_MANAGER,), 3)
    for region, _n, _e, _provinces in REGIONS:
        team(f"{region}.manager", f"region-{region}", (R.MANAGER,), 1)
    for _region, _n, _e, provinces in REGIONS:
        for code, _name, _en in provinces:
            size = 2 if code in LARGE_PROVINCES else 1 if code in MEDIUM_PROVINCES else 0
            if size:  # the larger provinces have a general manager over both departments
                team(f"{code}.head", code, (R.MANAGER,), 1)
            team(f"{code}.ka.manager", f"{code}-key-account", (R.MANAGER,), 1)
            team(f"{code}.ka", f"{code}-key-account", (R.ACCOUNT_MANAGER,), 1 + (size > 1))
            team(f"{code}.manager", f"{code}-sales", (R.MANAGER,), 1)
            team(f"{code}.sales", f"{code}-sales", (R.SALES_REP,), 1 + size)
            team(f"{code}.partner", f"{code}-partner", (R.PARTNER_STAFF,), 1 + (size > 1))
    return specs


# ---------------------------------------------------------------------------------------------
# COPY, text format, written by hand: several times faster than psycopg's write_row.
# ---------------------------------------------------------------------------------------------

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value: object) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list):  # text[]: every element quoted
        inner = ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
                         for v in value)
        return ("{" + inner + "}").translate(_COPY_ESCAPES)
    return str(value)


def copy_line(row: tuple) -> str:
    return "\t".join(map(_copy_value, row)) + "\n"


class _CopyWriter:
    """Buffers COPY lines and sends them in blocks."""

    def __init__(self, copy) -> None:
        self.copy, self.lines = copy, []

    def write_row(self, row: tuple) -> None:
        self.lines.append(copy_line(row))
        if len(self.lines) >= 5000:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self.copy.write("".join(self.lines).encode())
            self.lines = []


# ---------------------------------------------------------------------------------------------
# Building it.
# ---------------------------------------------------------------------------------------------


@dataclass
class DemoResult:
    created: bool
    users: int
    accounts: int
    contacts: int
    consents: int
    seconds: float
    message: str


def build_demo(*, accounts: int = 20_000, contacts: int | None = None, seed: int = DEFAULT_SEED,
               progress: Callable[[str], None] = print, bulk: bool | None = None) -> DemoResult:
    """Load the demo data set (see the module docstring) unless it is already there.

    `bulk` (default: from BULK_THRESHOLD accounts up) drops the secondary indexes and foreign
    keys of the loaded tables before COPY and rebuilds them after it, in the same transaction.
    """
    from marketloop.crm.models import Account
    from marketloop.org.models import User

    started = time.monotonic()
    contacts = accounts * 3 if contacts is None else contacts
    if User.objects.filter(username="hq.marketer").exists():
        message = (f"Demo data is already loaded ({Account.objects.count():,} accounts); "
                   "nothing to do.")
        progress(message)
        return DemoResult(False, 0, 0, 0, 0, time.monotonic() - started, message)
    if Account.objects.exists():
        message = ("The database already holds accounts that are not demo data; "
                   "not adding the demo set.")
        progress(message)
        return DemoResult(False, 0, 0, 0, 0, time.monotonic() - started, message)

    # Millions of long-lived tuples: the cyclic collector would rescan them again and again.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(accounts, contacts, seed, progress, bulk, started)
    finally:
        if gc_was_enabled:
            gc.enable()


def _build(accounts: int, contacts: int, seed: int, progress: Callable[[str], None],
           bulk: bool | None, started: float) -> DemoResult:
    from django.db import transaction

    with transaction.atomic():
        loader = _Loader(seed=seed, progress=progress,
                         bulk=accounts >= BULK_THRESHOLD if bulk is None else bulk)
        loader.lock()
        users = _build_org(seed, progress)
        loader.run(accounts, contacts)
        from marketloop.tracking.demo_site import demo_website_source

        demo_website_source()  # the source the demo customer website (/t/demo/) sends to
        tick = time.monotonic()
    progress(f"Committed in {time.monotonic() - tick:.1f} s.")
    loader.analyze()
    from marketloop.tracking.demo_activity import build_activity

    build_activity(seed=seed, progress=progress)
    from marketloop.sales.demo_pipeline import build_pipeline

    build_pipeline(seed=seed, progress=progress)
    from marketloop.campaigns.demo_campaigns import build_campaigns

    build_campaigns(seed=seed, progress=progress)
    seconds = time.monotonic() - started
    message = (f"Demo data loaded: {users} users, {loader.accounts:,} accounts, "
               f"{loader.contacts:,} contacts, {loader.consents:,} consent records "
               f"in {seconds:.1f} s.")
    progress(message)
    return DemoResult(True, users, loader.accounts, loader.contacts, loader.consents, seconds,
                      message)


def _build_org(seed: int, progress: Callable[[str], None]) -> int:
    from django.contrib.auth.hashers import make_password

    from marketloop.cli import DEMO_PASSWORD
    from marketloop.crm.reference import ensure_reference_data
    from marketloop.org.models import OrgUnit, UnitKind, User
    from marketloop.org.standard import add_partner, ensure_standard_org

    ensure_reference_data()
    ensure_standard_org()
    names = partner_names(seed)
    have = set(OrgUnit.objects.filter(kind=UnitKind.PARTNER).values_list("province__code",
                                                                         flat=True))
    for code, (name, name_en) in names.items():
        if code not in have:
            add_partner(province_code=code, name=name, name_en=name_en)
    progress("Organisation: HQ, 7 regions, 31 provinces and their partners.")

    units = dict(OrgUnit.objects.values_list("code", "id"))
    rng = random.Random(f"{seed}:users")
    encoded = make_password(DEMO_PASSWORD)  # argon2 is slow: hash once, share the hash
    rows, seen = [], set()
    for spec in user_specs():
        while True:
            full, surname, given, _py = person_name(rng)
            if full not in seen:
                seen.add(full)
                break
        rows.append(User(
            username=spec.username, password=encoded, unit_id=units[spec.unit],
            roles=list(spec.roles), display_name=full, first_name=given, last_name=surname,
            email=f"{spec.username}@marketloop.example", is_superuser=spec.superuser,
            is_staff=spec.superuser, date_joined=ANCHOR - dt.timedelta(days=400),
        ))
    User.objects.bulk_create(rows)
    progress(f"Users: {len(rows)} (password for all: the demo password).")
    return len(rows)


class _Loader:
    """Routes the generated accounts and streams them, their contacts and consent into
    PostgreSQL with COPY."""

    def __init__(self, *, seed: int, progress: Callable[[str], None], bulk: bool) -> None:
        self.seed, self.progress, self.bulk = seed, progress, bulk
        self.accounts = self.contacts = self.consents = 0
        self._dropped: list[tuple[str, str]] = []  # (drop, create) statements

    def lock(self) -> None:
        """Take every lock the load needs before writing anything, so that concurrent sessions
        wait for the load instead of deadlocking with it. Dropping a foreign key locks the
        table it points at too, so bulk mode locks those as well."""
        from django.db import connection

        tables = ["crm_account", "crm_contact", "crm_consent"]
        with connection.cursor() as cursor:
            if self.bulk:
                cursor.execute(
                    "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint "
                    "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)", [tables])
                tables += sorted({t for (t,) in cursor.fetchall()} - set(tables))
            mode = "ACCESS EXCLUSIVE" if self.bulk else "SHARE ROW EXCLUSIVE"
            cursor.execute(f"LOCK TABLE {', '.join(tables)} IN {mode} MODE")

    def run(self, n_accounts: int, n_contacts: int) -> None:
        from django.db import connection

        from marketloop.crm.models import Account, Consent, Contact

        with connection.cursor() as cursor:
            if self.bulk:
                self._drop_indexes(cursor, [Account, Contact, Consent])
            tick = time.monotonic()
            specs = generate_accounts(n_accounts, self.seed)
            self.progress(f"Accounts: generated {len(specs):,} in {time.monotonic() - tick:.1f} s; "
                          "routing and loading...")
            routing = self._copy_accounts(cursor, specs)
            contacts_created = self._copy_contacts(cursor, specs, routing, n_contacts)
            self._copy_consents(cursor, contacts_created)
            for model in (Account, Contact, Consent):
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"GREATEST((SELECT max(id) FROM {table}), 1))")
            if self._dropped:
                self._restore_indexes(cursor)

    def analyze(self) -> None:
        from django.db import connection

        tick = time.monotonic()
        tables = "crm_account, crm_contact, crm_consent, org_user, org_orgunit"
        with connection.cursor() as cursor:
            if connection.in_atomic_block:  # e.g. inside a test: VACUUM cannot run there
                cursor.execute(f"ANALYZE {tables}")
            else:  # statistics, and a visibility map for index-only scans
                cursor.execute(f"VACUUM (ANALYZE) {tables}")
        self.progress(f"Vacuumed and analysed in {time.monotonic() - tick:.1f} s.")

    # -- indexes ---------------------------------------------------------------------------

    def _drop_indexes(self, cursor, models) -> None:
        tables = [m._meta.db_table for m in models]
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
            [tables])
        for table, name, definition in cursor.fetchall():
            self._dropped.append((f'ALTER TABLE {table} DROP CONSTRAINT "{name}"',
                                  f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname)", [tables])
        for name, definition in cursor.fetchall():
            self._dropped.append((f'DROP INDEX "{name}"', definition))
        # Check what is pending (the users just created) now: a table with pending trigger
        # events cannot be altered, and dropping a foreign key alters both of its tables.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for drop, _create in self._dropped:
            cursor.execute(drop)
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        self.progress(f"Bulk load: dropped {len(self._dropped)} indexes and foreign keys; "
                      "they are rebuilt after loading.")

    def _restore_indexes(self, cursor) -> None:
        tick = time.monotonic()
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute("SET LOCAL max_parallel_maintenance_workers = 2")
        # Indexes first (foreign keys validate faster with them), the GIN index last.
        creates = [c for d, c in self._dropped if d.startswith("DROP INDEX")]
        creates.sort(key=lambda c: " gin " in c.lower())
        for statement in creates + [c for d, c in self._dropped if d.startswith("ALTER")]:
            cursor.execute(statement)
        self.progress(f"Rebuilt {len(self._dropped)} indexes and foreign keys in "
                      f"{time.monotonic() - tick:.1f} s.")

    # -- rows ------------------------------------------------------------------------------

    def _copy_accounts(self, cursor, specs: list[AccountSpec]) -> list[tuple[int, int | None,
                                                                              int | None]]:
        from marketloop.crm.models import Industry
        from marketloop.crm.routing import Router, Routing
        from marketloop.crm.validation import name_bigrams
        from marketloop.org.models import OrgUnit, UnitKind

        router = Router()
        # The router loads its candidate owners on first use; do that now, not in mid-COPY
        # (the connection is busy then). No unit has id 0, so no owner's load changes.
        router.pick_owner(0)
        industries = {i.code: (i.id, i.name) for i in Industry.objects.all()}
        provinces = dict(OrgUnit.objects.filter(kind=UnitKind.PROVINCE).values_list("code", "id"))
        cursor.execute("SELECT COALESCE(max(id), 0) FROM crm_account")
        first_id = cursor.fetchone()[0] + 1
        self.first_account_id = first_id
        routing: list[tuple[int, int | None, int | None]] = []  # (unit, owner, partner)
        decisions: dict[tuple, Routing] = {}
        columns = ("id", "name", "credit_code", "industry_id", "industry_rank", "province_id",
                   "revenue_band", "parent_id", "tier", "owner_unit_id", "owner_id",
                   "partner_id", "tier_rule_id", "tier_reason", "name_grams", "created_at",
                   "updated_at")
        step = max(len(specs) // 10, 1)
        tick = time.monotonic()
        with cursor.cursor.copy(
                f"COPY crm_account ({', '.join(columns)}) FROM STDIN") as copy:
            rows = _CopyWriter(copy)
            for i, spec in enumerate(specs):
                industry_id, industry_name = industries[spec.industry]
                province_id = provinces[spec.province]
                # What crm.services._apply_routing does for a new account; the decision is a
                # function of these four inputs, so unranked accounts share theirs.
                key = (spec.rank, spec.revenue_band, province_id, industry_name)
                decision = decisions.get(key)
                if decision is None:
                    decision = router.route(rank=spec.rank, revenue_band=spec.revenue_band,
                                            province_id=province_id, industry_name=industry_name)
                    if decision is None:  # pragma: no cover - the default rules match all
                        raise RuntimeError(f"No tier rule matches demo account {spec.name}")
                    if spec.rank is None:
                        decisions[key] = decision
                owner = router.pick_owner(decision.owner_unit_id)
                routing.append((decision.owner_unit_id, owner, decision.partner_id))
                rows.write_row((
                    first_id + i, spec.name, spec.credit_code, industry_id, spec.rank,
                    province_id, spec.revenue_band,
                    None if spec.parent is None else first_id + spec.parent,
                    decision.tier, decision.owner_unit_id, owner, decision.partner_id,
                    decision.rule_id, decision.reason, name_bigrams(spec.name),
                    spec.created_at, spec.created_at,
                ))
                if (i + 1) % step == 0:
                    self.progress(f"  accounts {i + 1:>10,} / {len(specs):,} "
                                  f"({time.monotonic() - tick:.0f} s)")
            rows.flush()
        self.accounts = len(specs)
        return routing

    def _copy_contacts(self, cursor, specs: list[AccountSpec],
                       routing: list[tuple[int, int | None, int | None]],
                       n_contacts: int) -> list[tuple[int, dt.datetime]]:
        cursor.execute("SELECT COALESCE(max(id), 0) FROM crm_contact")
        first_id = cursor.fetchone()[0] + 1
        self.first_contact_id = first_id
        columns = ("id", "name", "title", "is_management", "email", "mobile", "account_id",
                   "owner_unit_id", "owner_id", "partner_id", "created_at", "updated_at")
        created: list[tuple[int, dt.datetime]] = []
        step = max(n_contacts // 10, 1)
        tick = time.monotonic()
        with cursor.cursor.copy(
                f"COPY crm_contact ({', '.join(columns)}) FROM STDIN") as copy:
            rows = _CopyWriter(copy)
            for i, c in enumerate(generate_contacts(specs, n_contacts, self.seed)):
                unit, owner, partner = routing[c.account]
                rows.write_row((first_id + i, c.name, c.title, c.is_management, c.email,
                                c.mobile, self.first_account_id + c.account, unit, owner,
                                partner, c.created_at, c.created_at))
                created.append((i, c.created_at))
                if (i + 1) % step == 0:
                    self.progress(f"  contacts {i + 1:>10,} / {n_contacts:,} "
                                  f"({time.monotonic() - tick:.0f} s)")
            rows.flush()
        self.contacts = len(created)
        return created

    def _copy_consents(self, cursor, contacts_created: list[tuple[int, dt.datetime]]) -> None:
        from marketloop.org.models import Role, User

        recorders = list(User.objects.filter(roles__contains=[Role.MARKETER])
                         .order_by("id").values_list("id", flat=True))
        columns = ("contact_id", "purpose", "granted", "method", "recorded_at", "evidence",
                   "recorded_by_id")
        n = 0
        with cursor.cursor.copy(
                f"COPY crm_consent ({', '.join(columns)}) FROM STDIN") as copy:
            rows = _CopyWriter(copy)
            for c in generate_consents(iter(contacts_created), self.seed):
                recorder = recorders[c.contact % len(recorders)] if c.method != "web_form" \
                    else None
                rows.write_row((self.first_contact_id + c.contact, c.purpose, c.granted,
                                c.method, c.recorded_at, c.evidence, recorder))
                n += 1
            rows.flush()
        self.consents = n
        self.progress(f"  consent records {n:,}")
