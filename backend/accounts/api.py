"""Users, roles (groups), privileges and API tokens."""

from __future__ import annotations

import hashlib
from typing import Any, NoReturn

import django_filters
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from backend.accounts import services
from backend.accounts.models import Privilege
from backend.accounts.rights import rights_table
from backend.api.serializers import StrictMixin
from backend.errors import ApplicationError, Forbidden
from flows.models import Flow, Processor
from flows.permissions import flows_for, processors_for

User = get_user_model()


# -- tokens ---------------------------------------------------------------------------------------------------


class TokenInput(StrictMixin, serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class LoginThrottle(SimpleRateThrottle):
    """At most ELASTICCODE_LOGIN_RATE token logins per key and period, each attempt counted, good or bad.

    Two keys, so that neither guessing one account's password from many addresses nor trying many accounts from
    one address goes faster than the rate: LoginAddressThrottle counts per client address, LoginUsernameThrottle
    per username asked for.
    """

    def get_rate(self) -> str:
        # Read at every request (DRF's own rates are read once, at import), so a changed setting takes effect.
        return str(settings.ELASTICCODE_LOGIN_RATE)


class LoginAddressThrottle(LoginThrottle):
    scope = "login_address"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(LoginThrottle):
    scope = "login_username"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str) or not username:
            return None  # refused by validation anyway; the address throttle still counts it
        # Hashed: any length and any characters make a short key, and no username is kept in Redis.
        ident = hashlib.sha256(username.casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TokenView(APIView):
    """POST username and password, get the user's API token (send it as `Authorization: Token <token>`); DELETE
    with the token revokes it (`ec logout`). Logins are throttled (ELASTICCODE_LOGIN_RATE per client address and
    per username): past the rate the answer is 429 with Retry-After."""

    def _asks_for_a_token(self) -> bool:
        # Asking for a token takes a password, not a session or a token. `self.request` is Django's request here,
        # or None while the OpenAPI schema is built.
        return getattr(self.request, "method", None) == "POST"

    def get_authenticators(self) -> list[Any]:
        return [] if self._asks_for_a_token() else list(super().get_authenticators())

    def get_permissions(self) -> list[Any]:
        return [AllowAny()] if self._asks_for_a_token() else list(super().get_permissions())

    def get_throttles(self) -> list[Any]:
        if self._asks_for_a_token():
            return [LoginAddressThrottle(), LoginUsernameThrottle()]
        return list(super().get_throttles())

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise exceptions.Throttled(wait, detail="Too many login attempts from this address or for this username.")

    @extend_schema(
        request=TokenInput,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField(), "username": serializers.CharField()})
        },
    )
    def post(self, request: Request) -> Response:
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None:
            raise ApplicationError("Wrong username or password, or the account is disabled.", status=400)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key, "username": user.get_username()})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        """Revoke the caller's token: every client holding it must log in again."""
        services.token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- users ----------------------------------------------------------------------------------------------------


class UserSerializer(serializers.ModelSerializer):
    groups = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)  # type: ignore[var-annotated]

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "is_active",
            "is_staff",
            "is_superuser",
            "groups",
            "date_joined",
            "last_login",
        ]
        read_only_fields = fields


class UserCreateSerializer(StrictMixin, serializers.Serializer):
    username = serializers.RegexField(
        r"^[\w.@+-]{1,150}$", error_messages={"invalid": "Use up to 150 letters, digits and @ . + - _ characters."}
    )
    password = serializers.CharField(trim_whitespace=False, write_only=True)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    is_staff = serializers.BooleanField(required=False, default=False)
    is_superuser = serializers.BooleanField(required=False, default=False)
    rights = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Rights granted globally, e.g. ['CREATE'].",
    )
    groups = serializers.SlugRelatedField(  # type: ignore[var-annotated]
        slug_field="name",
        queryset=Group.objects.all(),
        many=True,
        required=False,
        default=list,  # type: ignore[arg-type]  # many=True: a list of groups
    )


class UserUpdateSerializer(StrictMixin, serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    password = serializers.CharField(trim_whitespace=False, write_only=True, required=False)
    is_active = serializers.BooleanField(required=False)
    groups = serializers.SlugRelatedField(slug_field="name", queryset=Group.objects.all(), many=True, required=False)


class TrueOrFalseField(forms.Field):
    """?is_active=true or false. django-filter's own boolean reads anything else as "no filter", which would list
    every user for a typo; here it is an error that says what to send."""

    widget = forms.TextInput  # the raw value: NullBooleanSelect turns unknown values into None

    def to_python(self, value: Any) -> bool | None:
        if value is None:
            return None
        if value in ("true", "false"):
            return value == "true"
        raise ValidationError("Use true or false.", code="invalid")


class TrueOrFalseFilter(django_filters.BooleanFilter):
    field_class = TrueOrFalseField


class UserFilter(django_filters.FilterSet):
    is_active = TrueOrFalseFilter()

    class Meta:
        model = User
        fields = ["username", "is_active"]


@extend_schema_view(partial_update=extend_schema(request=UserUpdateSerializer, responses={200: UserSerializer}))
class UserViewSet(viewsets.ModelViewSet):
    """Everyone sees themself; LS_USERS (auth.view_user) sees every user; ADD_USER creates them."""

    serializer_class = UserSerializer
    filterset_class = UserFilter

    def get_queryset(self) -> QuerySet[Any]:
        user = self.request.user
        users = User.objects.prefetch_related("groups").order_by("username")
        if user.is_superuser or user.has_perm("auth.view_user"):
            return users
        return users.filter(pk=user.pk)  # type: ignore[misc]  # authenticated: IsAuthenticated ran first

    @extend_schema(request=UserCreateSerializer, responses={201: UserSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        actor = request.user
        if not (actor.is_superuser or actor.has_perm("auth.add_user")):
            raise Forbidden("You may not create users: ask an administrator for the ADD_USER right.")
        data = UserCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if (values["is_superuser"] or values["is_staff"]) and not actor.is_superuser:
            raise Forbidden("Only a superuser may create staff users or superusers.")
        if values["groups"] and not (actor.is_superuser or actor.has_perm("auth.change_user")):
            # A role carries rights: joining one is granting them, as PATCH /api/users/{id}/ groups is.
            raise Forbidden("Putting a user in roles needs the UPDATE_USER right.")
        user = services.user_create(created_by=actor, **values)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UserUpdateSerializer, responses={200: UserSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        target = self.get_object()
        actor = request.user
        data = UserUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        may_admin = actor.is_superuser or actor.has_perm("auth.change_user")
        if target.pk != actor.pk and not may_admin:
            raise Forbidden("You may change only your own account: ask an administrator for UPDATE_USER.")
        if ({"is_active", "groups"} & set(values)) and not may_admin:
            raise Forbidden("Changing is_active or groups needs the UPDATE_USER right.")
        if "password" in values:
            services.user_set_password(user=target, password=values.pop("password"))
        if "groups" in values:
            target.groups.set(values.pop("groups"))
        for name, value in values.items():
            setattr(target, name, value)
        target.save()
        return Response(UserSerializer(target).data)

    @extend_schema(responses={200: UserSerializer, 204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete a user; one who owns flows is deactivated instead (200 with the user), so no flow loses its owner."""
        target = self.get_object()
        if not (request.user.is_superuser or request.user.has_perm("auth.delete_user")):
            raise Forbidden("You may not delete users: ask an administrator for DELETE_USER.")
        if target.flows.exists():
            # Users who own flows are deactivated instead, so nobody's flow disappears with its owner.
            target.is_active = False
            target.save(update_fields=["is_active"])
            return Response(UserSerializer(target).data)
        target.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: UserSerializer})
    @action(detail=False, methods=["get"])
    def me(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


# -- roles ----------------------------------------------------------------------------------------------------


class GroupSerializer(serializers.ModelSerializer):
    users = serializers.SerializerMethodField()

    class Meta:
        model = Group
        fields = ["id", "name", "users"]

    def get_users(self, group: Group) -> list[str]:
        return [user.username for user in group.user_set.all()]


class GroupInput(StrictMixin, serializers.Serializer):
    name = serializers.CharField(max_length=150)
    rights = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    users = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), many=True, required=False)


@extend_schema_view(partial_update=extend_schema(request=GroupInput, responses={200: GroupSerializer}))
class GroupViewSet(viewsets.ModelViewSet):
    """Roles. Members see their own roles; LS/READ_ROLE sees all; ADD/UPDATE/DELETE_ROLE change them."""

    serializer_class = GroupSerializer
    filterset_fields = ["name"]

    def get_queryset(self) -> QuerySet[Group]:
        user = self.request.user
        groups = Group.objects.prefetch_related("user_set").order_by("name")
        if user.is_superuser or user.has_perm("auth.view_group"):
            return groups
        return groups.filter(user=user)  # type: ignore[misc]  # authenticated: IsAuthenticated ran first

    def _require(self, codename: str, verb: str) -> None:
        if not (self.request.user.is_superuser or self.request.user.has_perm(f"auth.{codename}")):
            raise Forbidden(f"You may not {verb} roles: ask an administrator for the {verb.upper()}_ROLE right.")

    @extend_schema(request=GroupInput, responses={201: GroupSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._require("add_group", "add")
        data = GroupInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        users = values.pop("users", [])
        group = services.group_create(created_by=request.user, **values)
        group.user_set.add(*users)
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=GroupInput, responses={200: GroupSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        group = self.get_object()
        self._require("change_group", "update")
        # PUT gives the whole role (a name), PATCH only what changes (DRF's partial_update passes partial=True).
        data = GroupInput(data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "rights" in values:
            raise ApplicationError("Grant rights to a role through POST /api/privileges/ with {'group': name}.")
        if "name" in values:
            group.name = values["name"]
            group.save()
        if "users" in values:
            group.user_set.set(values["users"])
        return Response(GroupSerializer(group).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        group = self.get_object()
        self._require("delete_group", "delete")
        group.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- privileges -----------------------------------------------------------------------------------------------

OBJECT_TYPES: dict[str, type] = {"flow": Flow, "processor": Processor}


class PrivilegeSerializer(serializers.ModelSerializer):
    # A grant is to a user or to a group (the other is null), on one object or globally (object_type and object_id
    # null); granted_by is null once the granting user is deleted.
    user = serializers.CharField(source="user.username", default=None, allow_null=True, read_only=True)
    group = serializers.CharField(source="group.name", default=None, allow_null=True, read_only=True)
    object_type = serializers.CharField(source="content_type.model", default=None, allow_null=True, read_only=True)
    object_id = serializers.CharField(source="object_pk", allow_null=True, read_only=True)
    granted_by = serializers.CharField(source="granted_by.username", default=None, allow_null=True, read_only=True)

    class Meta:
        model = Privilege
        fields = ["id", "user", "group", "right", "object_type", "object_id", "granted_by", "granted_at"]


class PrivilegeInput(StrictMixin, serializers.Serializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), required=False)
    group = serializers.SlugRelatedField(slug_field="name", queryset=Group.objects.all(), required=False)
    right = serializers.CharField(max_length=64)
    object_type = serializers.ChoiceField(
        choices=sorted(OBJECT_TYPES), required=False, help_text="Leave out (with object_id) to grant globally."
    )
    object_id = serializers.UUIDField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("user" in attrs) == ("group" in attrs):
            raise serializers.ValidationError("Give exactly one of user or group.")
        if ("object_type" in attrs) != ("object_id" in attrs):
            raise serializers.ValidationError("Give object_type and object_id together, or neither (global).")
        return attrs


class PrivilegeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Grants: POST grants a right (on one flow/processor or globally), DELETE revokes it."""

    serializer_class = PrivilegeSerializer
    filterset_fields = ["right", "user__username", "group__name", "object_pk"]

    def get_queryset(self) -> QuerySet[Privilege]:
        user = self.request.user
        rows = Privilege.objects.select_related("user", "group", "content_type", "granted_by").order_by(
            "granted_at", "id"
        )
        if user.is_superuser or user.has_perm("accounts.view_privilege"):
            return rows
        flow_type = ContentType.objects.get_for_model(Flow)
        processor_type = ContentType.objects.get_for_model(Processor)
        owned = [str(pk) for pk in Flow.objects.filter(owner_id=user.pk).values_list("pk", flat=True)]
        # The owner may grant and revoke on her flow's processors too (privilege_can_manage), so she sees them.
        owned_processors = [str(pk) for pk in Processor.objects.filter(flow_id__in=owned).values_list("pk", flat=True)]
        return rows.filter(
            Q(user=user)
            | Q(group__in=user.groups.all())
            | Q(content_type=flow_type, object_pk__in=owned)
            | Q(content_type=processor_type, object_pk__in=owned_processors)
        )

    def _object(self, object_type: str | None, object_id: Any) -> Any:
        if object_type is None:
            return None
        visible = flows_for(self.request.user) if object_type == "flow" else processors_for(self.request.user)
        obj = visible.filter(pk=object_id).first()
        if obj is None:
            raise ApplicationError(
                f"object_id: no {object_type} {object_id} that you may see.",
                {"fields": {"object_id": ["not found"]}},
                status=404,
            )
        return obj

    @extend_schema(request=PrivilegeInput, responses={201: PrivilegeSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = PrivilegeInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        privilege = services.privilege_grant(
            right=values["right"],
            user=values.get("user"),
            group=values.get("group"),
            obj=self._object(values.get("object_type"), values.get("object_id")),
            granted_by=request.user,
        )
        return Response(PrivilegeSerializer(privilege).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.privilege_revoke(privilege=self.get_object(), revoked_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses={
            200: inline_serializer(
                "Right",
                {
                    "right": serializers.CharField(),
                    "description": serializers.CharField(),
                    "granted_on": serializers.CharField(help_text="global, flow, processor, or '-'"),
                    "permissions": serializers.CharField(),
                },
                many=True,
            )
        }
    )
    # The whole table at once, as a plain array: no pages, and the privilege filters do not apply to it.
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def rights(self, request: Request) -> Response:
        """Every right that can be granted, what it allows, where it can be granted and the Django permissions
        behind it."""
        return Response(rights_table())
