from django.db import transaction

from .models import User


@transaction.atomic
def user_create(*, username: str, password: str, role: str, email: str = "") -> User:
    user = User(username=username, email=email, role=role)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user
