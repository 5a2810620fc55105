"""Django settings. Everything deployment-specific comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path

from django.utils.translation import gettext_lazy as _
from psycopg.conninfo import conninfo_to_dict

from marketloop.database import data_dir, ensure_database_url

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent
DATA_DIR = data_dir()

SECRET_KEY = os.environ.get("MARKETLOOP_SECRET_KEY") or "dev-only-insecure-key-change-me"
DEBUG = os.environ.get("MARKETLOOP_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("MARKETLOOP_ALLOWED_HOSTS", "*").split(",")
CSRF_TRUSTED_ORIGINS = [
    origin for origin in os.environ.get("MARKETLOOP_CSRF_ORIGINS", "").split(",") if origin
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    "procrastinate.contrib.django",
    "marketloop.org",
    "marketloop.audit",
    "marketloop.crm",
    "marketloop.tracking",
    "marketloop.scoring",
    "marketloop.leads",
    "marketloop.sales",
    "marketloop.campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "marketloop.org.middleware.LoginRequiredMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "marketloop.urls"
WSGI_APPLICATION = "marketloop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "marketloop.org.context_processors.navigation",
            ],
        },
    },
]


def _database_from_url(url: str) -> dict:
    params = conninfo_to_dict(url)
    named = {"dbname", "user", "password", "host", "port"}
    options = {k: v for k, v in params.items() if k not in named}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": params.get("dbname", "marketloop"),
        "USER": params.get("user", ""),
        "PASSWORD": params.get("password", ""),
        "HOST": params.get("host", ""),
        "PORT": params.get("port", ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": os.environ.get("MARKETLOOP_TEST_DB", "test_marketloop")},
    }


DATABASES = {"default": _database_from_url(ensure_database_url())}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "org.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "crm:account_list"
LOGOUT_REDIRECT_URL = "login"

# Sessions expire after 8 idle hours and with the browser.
SESSION_COOKIE_AGE = int(os.environ.get("MARKETLOOP_SESSION_SECONDS", 8 * 3600))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False

# Lock-out: 5 failures for a username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("MARKETLOOP_LOGIN_FAILURES", 5))
AXES_COOLOFF_TIME = 0.25
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "org/locked_out.html"
AXES_VERBOSE = False

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("简体中文"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["marketloop.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = PROJECT_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "media"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024

# Mail for notifications (marketloop.org.notifications), and the address links in mails use.
# Without MARKETLOOP_EMAIL_HOST, mail is written to files in the data directory's mail/ (nothing
# is lost, and nothing waits for a server that is not there).
EMAIL_BACKEND = ("django.core.mail.backends.smtp.EmailBackend"
                 if os.environ.get("MARKETLOOP_EMAIL_HOST")
                 else "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("MARKETLOOP_EMAIL_DIR", str(DATA_DIR / "mail"))
EMAIL_HOST = os.environ.get("MARKETLOOP_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("MARKETLOOP_EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("MARKETLOOP_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("MARKETLOOP_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("MARKETLOOP_EMAIL_TLS", "0") == "1"
EMAIL_TIMEOUT = int(os.environ.get("MARKETLOOP_EMAIL_TIMEOUT", 10))
DEFAULT_FROM_EMAIL = os.environ.get("MARKETLOOP_EMAIL_FROM", "marketloop@localhost")
MARKETLOOP_SITE_URL = os.environ.get("MARKETLOOP_SITE_URL", "http://localhost:8000")

PROCRASTINATE_WORKER_DEFAULTS = {"concurrency": 2}
PROCRASTINATE_IMPORT_PATHS = ["marketloop.jobs"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("MARKETLOOP_LOG_LEVEL", "WARNING")},
}

# Identity stitching (marketloop.tracking.stitching). An email, phone or anonymous id linked to
# more distinct identifiers of one kind than these limits is shared (an office switchboard, a
# test address, a kiosk browser): it is kept apart and links nobody.
TRACKING_SHARED_LIMITS = {
    "anonymous": {"user": 1, "contact": 1, "email": 3, "mobile": 3},
    "email": {"user": 2, "contact": 1, "mobile": 3, "anonymous": 20},
    "mobile": {"user": 2, "contact": 1, "email": 3, "anonymous": 20},
}
TRACKING_BLOCKED_IDENTIFIERS = {
    "email": ["test@test.com", "test@example.com", "a@a.com", "noreply@example.com"],
    "email_domain": ["example.com", "example.org", "test.com", "mailinator.com"],
    "mobile": ["+8613800138000", "+8613888888888", "+8613000000000"],
}
# Events a tracking request may carry before it is refused, and inbox rows one processing
# transaction takes.
TRACKING_PROCESS_EVENTS = int(os.environ.get("MARKETLOOP_TRACKING_PROCESS_EVENTS", 10000))
