"""Import and export pages. Thin: parse the request, call one service, render."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.crm import exporting
from marketloop.crm import import_services as imports
from marketloop.crm.importing import FIELD_LABELS
from marketloop.crm.models import ImportJob
from marketloop.org.errors import DomainError, NotAllowed, NotFound
from marketloop.org.permissions import Action, can, require

ERRORS_SHOWN = 200


def domain_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """NotAllowed -> 403, NotFound -> 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotAllowed as exc:
            if exc.status == 404:
                raise Http404(exc.message) from exc
            raise PermissionDenied(exc.message) from exc
        except NotFound as exc:
            raise Http404(exc.message) from exc

    return wrapper


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=ImportJob.Kind.choices,
                             initial=ImportJob.Kind.ACCOUNTS)
    file = forms.FileField(label=_("CSV or Excel (.xlsx) file"))
    sheet = forms.CharField(label=_("Sheet (Excel only; empty means the first)"),
                            required=False, max_length=100)


def _field_label(name: str) -> str:
    en, zh = FIELD_LABELS.get(name, (name, name))
    return zh if exporting.chinese() else en


def _job_context(request: HttpRequest, job: ImportJob) -> dict[str, Any]:
    summary = job.summary or {}
    columns = [dict(c, label=_field_label(c["field"]) if c.get("field") else "")
               for c in summary.get("columns", [])]
    mapped = [c for c in columns if c.get("field")]
    header_of = {c["field"]: c["header"] for c in mapped}
    active = job.status in {ImportJob.Status.QUEUED, ImportJob.Status.RUNNING}
    shows_errors = not active and job.status != ImportJob.Status.PREVIEW
    errors = list(imports.row_errors(job)[:ERRORS_SHOWN]) if shows_errors else []
    for error in errors:
        error.column = header_of.get(error.field, error.field)
    percent = int(100 * job.processed_rows / job.total_rows) if job.total_rows else 0
    return {
        "job": job, "summary": summary, "columns": columns, "mapped": mapped,
        "preview_rows": [dict(r, cells=[r["values"].get(c["field"], "") for c in mapped])
                         for r in summary.get("rows", [])],
        "samples": summary.get("samples", []),
        "errors": errors, "errors_shown": ERRORS_SHOWN,
        "error_total": job.row_errors.count() if errors else 0,
        "percent": min(percent, 100),
        "active": active,
        "counted": job.created_count + job.updated_count + job.unchanged_count
        + job.error_count,
    }


@require_GET
@domain_errors
def import_list(request: HttpRequest) -> HttpResponse:
    require(request.user, Action.IMPORT)
    jobs = imports.import_jobs(request.user)[:100]
    return render(request, "crm/data/import_list.html", {
        "jobs": jobs, "sees_all": can(request.user, Action.ADMINISTER)})


@require_http_methods(["GET", "POST"])
@domain_errors
def import_upload(request: HttpRequest) -> HttpResponse:
    require(request.user, Action.IMPORT)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = imports.start_import(actor=request.user, kind=form.cleaned_data["kind"],
                                       upload=form.cleaned_data["file"],
                                       sheet=form.cleaned_data["sheet"])
        except DomainError as exc:
            if isinstance(exc, NotAllowed):
                raise
            for name, messages in (exc.errors or {"file": [exc.message]}).items():
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
        else:
            return redirect("data:import_detail", pk=job.pk)
    status = 422 if request.method == "POST" else 200
    return render(request, "crm/data/import_upload.html", {"form": form}, status=status)


@require_GET
@domain_errors
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request.user, Action.IMPORT)
    job = imports.import_job(request.user, pk)
    return render(request, "crm/data/import_detail.html", _job_context(request, job))


@require_GET
@domain_errors
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The status block alone, polled by HTMX while the job is queued or running."""
    require(request.user, Action.IMPORT)
    job = imports.import_job(request.user, pk)
    return render(request, "crm/data/_import_status.html", _job_context(request, job))


def _act(request: HttpRequest, pk: int, service: Callable[..., ImportJob],
         **kwargs: Any) -> HttpResponse:
    require(request.user, Action.IMPORT)
    job = imports.import_job(request.user, pk)
    try:
        service(actor=request.user, job=job, **kwargs)
    except DomainError as exc:
        if isinstance(exc, NotAllowed | NotFound):
            raise
        context = _job_context(request, imports.import_job(request.user, pk))
        context["action_error"] = exc.message
        return render(request, "crm/data/import_detail.html", context, status=exc.status)
    return redirect("data:import_detail", pk=pk)


@require_POST
@domain_errors
def import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, imports.confirm_import)


@require_POST
@domain_errors
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, imports.cancel_import)


@require_POST
@domain_errors
def import_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, imports.choose_sheet, sheet=request.POST.get("sheet", ""))


@require_GET
@domain_errors
def import_errors(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every row error as CSV: row, column, message, then the row's cells as uploaded."""
    require(request.user, Action.IMPORT)
    job = imports.import_job(request.user, pk)
    summary = job.summary or {}
    header_of = {c["field"]: c["header"] for c in summary.get("columns", []) if c.get("field")}
    originals = [c["header"] for c in summary.get("columns", []) if c.get("header")]
    zh = exporting.chinese()
    headers = (["行号", "列", "错误"] if zh else ["Row", "Column", "Error"]) + originals

    def rows() -> Iterator[list[Any]]:
        for error in imports.row_errors(job).iterator(chunk_size=2000):
            yield [exporting.neutralise(v) for v in (
                error.row_number, header_of.get(error.field, error.field), error.message,
                *[error.values.get(name, "") for name in originals])]

    response = StreamingHttpResponse(exporting.csv_lines(headers, rows()),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


def _export(request: HttpRequest, build: Callable[..., exporting.Export]) -> HttpResponse:
    require(request.user, Action.EXPORT)
    fmt = request.GET.get("format", "csv")
    if fmt not in {"csv", "xlsx"}:
        fmt = "csv"
    return exporting.response(build(request.user, request.GET), fmt)


@require_GET
@domain_errors
def account_export(request: HttpRequest) -> HttpResponse:
    return _export(request, exporting.accounts)


@require_GET
@domain_errors
def contact_export(request: HttpRequest) -> HttpResponse:
    return _export(request, exporting.contacts)

