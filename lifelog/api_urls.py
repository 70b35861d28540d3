from django.urls import path

from . import apis

urlpatterns = [
    path("participants/<str:public_code>/imports/", apis.ImportListApi.as_view(), name="api_imports"),
    path("participants/<str:public_code>/entries/", apis.EntryListApi.as_view(), name="api_entries"),
    path("participants/<str:public_code>/search/", apis.SearchApi.as_view(), name="api_search"),
    path("imports/<int:job_id>/", apis.ImportDetailApi.as_view(), name="api_import_detail"),
    path("entries/<int:entry_id>/exclude/", apis.EntryExcludeApi.as_view(), name="api_entry_exclude"),
    path("entries/<int:entry_id>/photo/", apis.EntryPhotoApi.as_view(), name="api_entry_photo"),
]
