"""Copy the front-end files the templates use from node_modules/ into marketloop/static/vendor/.

Run after `npm ci`. Only the distribution files the pages load are copied (with their source
maps and licences), so the static folder stays small and nothing is fetched from a CDN.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "marketloop" / "static" / "vendor"

# (package, file inside the package, destination inside vendor/); optional files may be absent.
FILES: list[tuple[str, str, str, bool]] = [
    ("htmx.org", "dist/htmx.min.js", "htmx/htmx.min.js", True),
    ("htmx.org", "LICENSE", "htmx/LICENSE", False),
    ("echarts", "dist/echarts.min.js", "echarts/echarts.min.js", True),
    ("echarts", "LICENSE", "echarts/LICENSE", False),
    ("@tabler/core", "dist/css/tabler.min.css", "tabler/css/tabler.min.css", True),
    ("@tabler/core", "dist/css/tabler.min.css.map", "tabler/css/tabler.min.css.map", False),
    ("@tabler/core", "dist/js/tabler.min.js", "tabler/js/tabler.min.js", True),
    ("@tabler/core", "dist/js/tabler.min.js.map", "tabler/js/tabler.min.js.map", False),
]


def main() -> int:
    if not NODE_MODULES.is_dir():
        print("node_modules/ is missing: run `npm ci` first.", file=sys.stderr)
        return 1
    missing = []
    for package, source, target, required in FILES:
        src = NODE_MODULES / package / source
        if not src.is_file():
            if required:
                missing.append(str(src.relative_to(ROOT)))
            continue
        dst = VENDOR / target
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    if missing:
        print("Missing front-end files: " + ", ".join(missing), file=sys.stderr)
        return 1
    print(f"Copied front-end assets into {VENDOR.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
