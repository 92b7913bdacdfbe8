"""The recipe's routes."""

from __future__ import annotations

from typing import Any

from django.urls import path  # type: ignore[import-untyped]

from mysite import views

urlpatterns: list[Any] = [
    path("healthz/", views.healthz),
    path("hello/", views.hello),
    path("forbidden/", views.forbidden),
    path("boom/", views.boom),
]
