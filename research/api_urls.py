from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from . import apis

# Swagger UI and Redoc set inline styles from their scripts: allowed on these two pages only (no participant data,
# no inline script), and Redoc's search worker. Redoc's Google web fonts stay blocked: no third party sees the page.
docs_styles = csp_update({"style-src": UNSAFE_INLINE})
redoc_styles = csp_update({"style-src": UNSAFE_INLINE, "worker-src": "blob:"})

urlpatterns = [
    path("token/", apis.ThrottledObtainAuthToken.as_view(), name="api_token"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves its start-up script as a file: the docs page needs no inline script under the CSP.
    path("docs/", docs_styles(SpectacularSwaggerSplitView.as_view(url_name="api_schema")), name="api_docs"),
    path("redoc/", redoc_styles(SpectacularRedocView.as_view(url_name="api_schema")), name="api_redoc"),
    path("studies/", apis.StudyListApi.as_view(), name="api_studies"),
    path("studies/<slug:slug>/", apis.StudyDetailApi.as_view(), name="api_study"),
    path("studies/<slug:slug>/attempts.csv", apis.AttemptExportApi.as_view(), name="api_export_csv"),
    path("studies/<slug:slug>/attempts.json", apis.AttemptExportJsonApi.as_view(), name="api_export_json"),
    path("arms/", apis.ArmListApi.as_view(), name="api_arms"),
    path("protocol-versions/", apis.ProtocolVersionListApi.as_view(), name="api_protocol_versions"),
    path("consent-versions/", apis.ConsentVersionListApi.as_view(), name="api_consent_versions"),
    path("participants/", apis.ParticipantListApi.as_view(), name="api_participants"),
    path(
        "participants/<str:public_code>/password-reset/",
        apis.ParticipantPasswordResetApi.as_view(),
        name="api_participant_password_reset",
    ),
    path("sessions/", apis.TrainingSessionListApi.as_view(), name="api_sessions"),
    path("attempts/", apis.AttemptListApi.as_view(), name="api_attempts"),
]
