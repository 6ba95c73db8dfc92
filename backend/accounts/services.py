"""Writes for users, roles (groups) and privileges."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from guardian.shortcuts import assign_perm, remove_perm
from rest_framework.authtoken.models import Token

from backend.accounts.models import Privilege
from backend.accounts.rights import Perm, Right, get_right
from backend.errors import ApplicationError, Conflict, Forbidden

User = get_user_model()
GRANTABLE_MODELS = {("flows", "flow"), ("flows", "processor")}


def _permission(perm: Perm) -> Permission:
    app, model, codename = perm
    return Permission.objects.get(content_type__app_label=app, content_type__model=model, codename=codename)


def _object_perms(right: Right, obj: models.Model) -> list[Perm]:
    meta = obj._meta
    return [
        perm
        for perm in right.permissions
        if (perm[0], perm[1]) == (meta.app_label, meta.model_name) and not perm[2].startswith("add_")
    ]


def _owner_of(obj: models.Model) -> Any:
    flow = getattr(obj, "flow", obj)
    return getattr(flow, "owner_id", None)


def privilege_can_manage(*, actor: Any, obj: models.Model | None, revoke: bool = False) -> bool:
    """Global grants need ADD_PRIVILEGE (or DELETE_PRIVILEGE to revoke); a flow's owner may share that flow."""
    if actor.is_superuser:
        return True
    codename = "accounts.delete_privilege" if revoke else "accounts.add_privilege"
    if actor.has_perm(codename):
        return True
    return obj is not None and _owner_of(obj) == actor.pk


def _resolve_right(name: str) -> Right:
    right = get_right(name)
    if right is None:
        raise ApplicationError(
            f"Unknown right {name!r}. GET /api/privileges/rights/ lists the rights you can grant.",
            {"fields": {"right": ["unknown right"]}},
        )
    if right.superuser_only:
        raise ApplicationError(
            f"{right.name} cannot be granted: it belongs to superusers only. Make the user a superuser instead.",
            {"fields": {"right": ["superuser only"]}},
        )
    return right


@transaction.atomic
def privilege_grant(
    *,
    right: str,
    user: Any = None,
    group: Group | None = None,
    obj: models.Model | None = None,
    granted_by: Any = None,
    check: bool = True,
) -> Privilege:
    """Grant `right` to a user or a group, on `obj` or (obj None) globally. Idempotent: granting twice keeps one."""
    if (user is None) == (group is None):
        raise ApplicationError("Name exactly one of user or group to grant a right to.")
    if check and granted_by is not None and not privilege_can_manage(actor=granted_by, obj=obj):
        raise Forbidden("You may not grant rights here: only the flow's owner or a user with ADD_PRIVILEGE may.")
    resolved = _resolve_right(right)
    principal = user if user is not None else group
    content_type = None
    object_pk = None
    if obj is None:
        perms = [_permission(perm) for perm in resolved.permissions]
        if user is not None:
            user.user_permissions.add(*perms)
        else:
            group.permissions.add(*perms)  # type: ignore[union-attr]
    else:
        meta = obj._meta
        if (meta.app_label, meta.model_name) not in GRANTABLE_MODELS:
            raise ApplicationError("Rights can be granted on flows and processors, or globally.")
        object_perms = _object_perms(resolved, obj)
        if not object_perms:
            raise ApplicationError(
                f"{resolved.name} does not apply to a {meta.model_name}; grant it globally or on an object it "
                "applies to (GET /api/privileges/rights/ says which).",
                {"fields": {"right": [f"not applicable to a {meta.model_name}"]}},
            )
        for perm in object_perms:
            assign_perm(_permission(perm), principal, obj)
        content_type = ContentType.objects.get_for_model(obj)
        object_pk = str(obj.pk)
    privilege, _ = Privilege.objects.update_or_create(
        user=user,
        group=group,
        right=resolved.name,
        content_type=content_type,
        object_pk=object_pk,
        defaults={"granted_by": granted_by},
    )
    return privilege


@transaction.atomic
def privilege_revoke(*, privilege: Privilege, revoked_by: Any = None, check: bool = True) -> None:
    """Remove the grant and each permission it gave that no other remaining grant of the same scope still gives."""
    obj = None
    if privilege.content_type is not None:
        model = privilege.content_type.model_class()
        obj = model._default_manager.filter(pk=privilege.object_pk).first() if model is not None else None
    if check and revoked_by is not None and not privilege_can_manage(actor=revoked_by, obj=obj, revoke=True):
        raise Forbidden("You may not revoke rights here: only the flow's owner or a user with DELETE_PRIVILEGE may.")
    if privilege.content_type is not None and obj is None:
        # The object is gone, and its object permissions with it (direct foreign keys): only the record is left.
        privilege.delete()
        return
    right = get_right(privilege.right)
    siblings = Privilege.objects.filter(
        user=privilege.user, group=privilege.group, content_type=privilege.content_type, object_pk=privilege.object_pk
    ).exclude(pk=privilege.pk)
    still_given: set[Perm] = set()
    for sibling in siblings:
        sibling_right = get_right(sibling.right)
        if sibling_right is not None:
            still_given.update(sibling_right.permissions)
    principal = privilege.user or privilege.group
    to_remove = [perm for perm in (right.permissions if right else ()) if perm not in still_given]
    if obj is None:
        perms = [_permission(perm) for perm in to_remove]
        if privilege.user is not None:
            privilege.user.user_permissions.remove(*perms)
        elif privilege.group is not None:
            privilege.group.permissions.remove(*perms)
    else:
        for perm in to_remove:
            if (perm[0], perm[1]) == (obj._meta.app_label, obj._meta.model_name) and not perm[2].startswith("add_"):
                remove_perm(_permission(perm), principal, obj)
    privilege.delete()


def privileges_forget(*, model: type[models.Model], pks: Iterable[Any]) -> None:
    """Drop the grant records of deleted objects (their guardian rows go with them by foreign key)."""
    keys = [str(pk) for pk in pks]
    if keys:
        content_type = ContentType.objects.get_for_model(model)
        Privilege.objects.filter(content_type=content_type, object_pk__in=keys).delete()


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    email: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    rights: list[str] | None = None,
    groups: list[Group] | None = None,
    created_by: Any = None,
) -> AbstractUser:
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(
            f"A user named {username!r} already exists; pick another username.",
            {"fields": {"username": ["already taken"]}},
        )
    candidate = User(username=username, email=email)
    try:
        validate_password(password, candidate)
    except ValidationError as error:
        raise ApplicationError(
            f"password: {' '.join(error.messages)}", {"fields": {"password": error.messages}}
        ) from None
    try:
        user = User.objects.create_user(
            username=username, email=email, password=password, is_staff=is_staff, is_superuser=is_superuser
        )
    except IntegrityError:
        raise Conflict(f"A user named {username!r} already exists; pick another username.") from None
    if groups:
        user.groups.add(*groups)
    for right in rights or []:
        # Checked: ADD_USER alone must not hand out rights that only ADD_PRIVILEGE may grant.
        privilege_grant(right=right, user=user, granted_by=created_by)
    return user


@transaction.atomic
def user_set_password(*, user: Any, password: str) -> None:
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ApplicationError(
            f"password: {' '.join(error.messages)}", {"fields": {"password": error.messages}}
        ) from None
    user.set_password(password)
    user.save(update_fields=["password"])


def token_revoke(*, user: Any) -> None:
    """Delete `user`'s API token (a new one is made at the next login)."""
    Token.objects.filter(user=user).delete()


@transaction.atomic
def group_create(*, name: str, rights: list[str] | None = None, created_by: Any = None) -> Group:
    if Group.objects.filter(name__iexact=name).exists():
        raise Conflict(
            f"A role named {name!r} already exists; pick another name.", {"fields": {"name": ["already taken"]}}
        )
    group = Group.objects.create(name=name)
    for right in rights or []:
        privilege_grant(right=right, group=group, granted_by=created_by)  # checked, as in user_create
    return group
