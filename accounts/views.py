from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .services import user_set_preferences


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_researcher:
        return redirect("research:study_list")
    return redirect("chat:home")


@login_required
@require_POST
def preferences_view(request: HttpRequest) -> HttpResponse:
    """Text size, contrast and reading aloud. Buttons post here without JavaScript too; scripts get JSON back."""
    user = user_set_preferences(
        user=request.user,
        font_step=request.POST.get("font_step"),
        high_contrast=request.POST.get("high_contrast"),
        read_aloud=request.POST.get("read_aloud"),
    )
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(
            {"font_scale": user.font_scale, "high_contrast": user.high_contrast, "read_aloud": user.read_aloud}
        )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "home"
    return redirect(back)


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None) -> HttpResponse:
    """django-axes' answer to a locked-out login, in words a trainee understands (429 for scripts)."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
