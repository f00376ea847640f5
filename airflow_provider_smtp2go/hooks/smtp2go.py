"""``Smtp2goHook``: the SMTP2GO connection (API key, region, defaults) as ready API clients.

The connection (type ``smtp2go``) holds the API key in *Password*; extras are ``region``
(``global|us|eu|au``), ``sender``, ``subaccount_id`` (the subaccount's id or its name, looked up
once on the first call scoped to it: ``client.subaccounts``), ``base_url`` (sandbox or proxy),
``timeout``, ``max_attempts`` and ``deadline`` (the retry budget in seconds)::

    export AIRFLOW_CONN_SMTP2GO_DEFAULT='{"conn_type": "smtp2go", "password": "<api key>",
                                          "extra": {"region": "eu", "sender": "airflow@example.com"}}'

The client and Airflow's connection lookup are imported on first use, so importing this module
during DAG parsing costs little and does no I/O.
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go import CONNECTION_TYPE, get_provider_info
from airflow_provider_smtp2go._compat import (
    AirflowFailException,
    AirflowNotFoundException,
    BaseHook,
    async_connection_extra,
    conf,
    get_async_connection,
    mask_secret,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from airflow_provider_smtp2go.client import (
        AsyncSmtp2goClient,
        Email,
        RetryPolicy,
        SendResult,
        Smtp2goClient,
    )
    from airflow_provider_smtp2go.client.secret import Secret
    from airflow_provider_smtp2go.client.settings import ClientSettings
    from airflow_provider_smtp2go.client.subaccounts import SubaccountRef
    from airflow_provider_smtp2go.webhooks.auth import WebhookSecret

#: ``[smtp2go]`` options of airflow.cfg (declared in the provider info).
CONFIG_SECTION = "smtp2go"


def process_requests_per_minute(explicit: float | None = None) -> float:
    """This process's share of the account's activity budget (``limits.ACTIVITY_REQUESTS_PER_MINUTE``).

    ``explicit`` wins; else ``[smtp2go] activity_requests_per_minute``
    (``AIRFLOW__SMTP2GO__ACTIVITY_REQUESTS_PER_MINUTE``). With N triggerers and workers
    polling one account, give each ``60 / N``.
    """
    from airflow_provider_smtp2go.client.limits import ACTIVITY_REQUESTS_PER_MINUTE

    if explicit:
        return float(explicit)
    account = float(ACTIVITY_REQUESTS_PER_MINUTE)
    value = conf.getfloat(CONFIG_SECTION, "activity_requests_per_minute", fallback=account)
    return float(value) if value and value > 0 else account


#: The extras this hook reads, in connection-form order.
EXTRA_FIELDS = ("region", "sender", "subaccount_id", "base_url", "timeout", "max_attempts", "deadline")


def _connection_type_info() -> dict[str, Any]:
    info: dict[str, Any] = get_provider_info()["connection-types"][0]
    return info


@dataclass(frozen=True)
class Smtp2goConnectionSettings:
    """An ``smtp2go`` connection, parsed and checked.

    The key is held in a ``Secret``: it never appears in ``repr``, ``dataclasses.asdict`` or
    a pickle (pickling refuses); ``api_key`` reveals it for building a client.

    >>> s = Smtp2goConnectionSettings.from_connection("c", "k" * 20, {"region": "eu", "timeout": "20"})
    >>> s.region, s.timeout, s.secret
    ('eu', (5.0, 20.0), Secret('***'))
    """

    conn_id: str
    secret: Secret
    region: str | None = None
    sender: str | None = None
    subaccount_id: str | None = None
    base_url: str | None = None
    timeout: tuple[float, float] | None = None
    max_attempts: int | None = None
    deadline: float | None = None

    @property
    def api_key(self) -> str:
        """The API key itself (for the client; never log or store it)."""
        return self.secret.reveal()

    @classmethod
    def from_connection(
        cls, conn_id: str, password: str | None, extra: dict[str, Any], *, label: str | None = None
    ) -> Smtp2goConnectionSettings:
        """Parse a connection's password and extras; raise ``Smtp2goValidationError`` naming what is wrong.

        The error names the field, the value and the connection: ``label`` if given (``"the
        connection being tested"``: Airflow's test endpoint makes up a random id), else its id.

        >>> try:
        ...     Smtp2goConnectionSettings.from_connection("c", "k" * 20, {"max_attempts": 2.5})
        ... except ValueError as exc:
        ...     print(exc)
        max_attempts: must be a whole number, got 2.5 (in connection 'c')
        """
        from airflow_provider_smtp2go.client import REGIONS, Smtp2goValidationError
        from airflow_provider_smtp2go.client.limits import CONNECT_TIMEOUT
        from airflow_provider_smtp2go.client.secret import Secret

        where = label or f"connection {conn_id!r}"

        def fail(field_name: str, rule: str, message: str) -> Smtp2goValidationError:
            return Smtp2goValidationError(field_name, rule, f"{message} (in {where})")

        def get(name: str) -> Any:
            # The pre-3.2 connection form stores widgets as extra__smtp2go__<name>.
            for key in (name, f"extra__{CONNECTION_TYPE}__{name}"):
                value = extra.get(key)
                if value is not None and not (isinstance(value, str) and not value.strip()):
                    return value.strip() if isinstance(value, str) else value
            return None

        def number(name: str, kind: type[int] | type[float]) -> Any:
            value = get(name)
            if value is None:
                return None
            try:
                parsed = None if isinstance(value, bool) else kind(value)
            except (TypeError, ValueError):
                parsed = None
            if parsed is None or not math.isfinite(parsed):
                raise fail(name, "number", f"must be a number, got {value!r}")
            if parsed <= 0:
                raise fail(name, "positive", f"must be greater than 0, got {value!r}")
            return parsed

        api_key = (password or "").strip() or (str(get("api_key") or "")).strip()
        if not api_key:
            raise fail(
                "password",
                "required",
                "no SMTP2GO API key; put the key in the connection's Password field",
            )
        region = get("region")
        if region is not None:
            region = str(region).lower()
            if region not in REGIONS:
                raise fail("region", "choice", f"unknown region {region!r}, expected one of {', '.join(REGIONS)}")
        timeout_value = get("timeout")
        timeout: tuple[float, float] | None = None
        if isinstance(timeout_value, (list, tuple)) and len(timeout_value) == 2:
            timeout = (float(timeout_value[0]), float(timeout_value[1]))
        elif timeout_value is not None:
            read = number("timeout", float)
            timeout = (min(CONNECT_TIMEOUT, read), read)
        max_attempts = number("max_attempts", float)
        if max_attempts is not None and max_attempts != int(max_attempts):
            raise fail("max_attempts", "integer", f"must be a whole number, got {get('max_attempts')!r}")
        return cls(
            conn_id=conn_id,
            secret=Secret(api_key),
            region=region,
            sender=get("sender"),
            subaccount_id=get("subaccount_id"),
            base_url=get("base_url"),
            timeout=timeout,
            max_attempts=None if max_attempts is None else int(max_attempts),
            deadline=number("deadline", float),
        )

    def retry_policy(self, **changes: Any) -> RetryPolicy:
        """The client's retry policy with this connection's budget applied."""
        from airflow_provider_smtp2go.client import RetryPolicy

        budget: dict[str, Any] = {}
        if self.max_attempts is not None:
            budget["max_attempts"] = self.max_attempts
        if self.deadline is not None:
            budget["deadline"] = self.deadline
        return RetryPolicy(**{**budget, **changes})

    def client_kwargs(
        self,
        *,
        retry: RetryPolicy | None = None,
        activity_requests_per_minute: float | None = None,
        subaccount: SubaccountRef | None = None,
        **retry_changes: Any,
    ) -> dict[str, Any]:
        """Keyword arguments for ``Smtp2goClient``/``AsyncSmtp2goClient`` (besides the key).

        ``retry`` replaces the connection's policy (e.g. ``RetryPolicy.no_retries()`` for a
        loop that retries itself); ``retry_changes`` adjust it instead. The activity share is
        ``activity_requests_per_minute`` when given (a trigger's explicit share), else this
        process's configured share, so the client's limiter and its caller agree on one budget.
        ``subaccount`` is a ``SubaccountRef`` for ``subaccount_id`` to share between clients, so
        that a name is looked up once (the hook passes its own).
        """
        kwargs: dict[str, Any] = {
            "region": self.region,
            "base_url": self.base_url,
            "subaccount_id": subaccount or self.subaccount_id,
            "retry": retry.with_changes(**retry_changes) if retry is not None else self.retry_policy(**retry_changes),
            "activity_requests_per_minute": max(1, int(process_requests_per_minute(activity_requests_per_minute))),
        }
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return kwargs

    def client_settings(
        self,
        *,
        retry: RetryPolicy | None = None,
        activity_requests_per_minute: float | None = None,
        subaccount: SubaccountRef | None = None,
        **retry_changes: Any,
    ) -> ClientSettings:
        """The ``ClientSettings`` of this connection (same overrides as ``client_kwargs``)."""
        from airflow_provider_smtp2go.client.settings import ClientSettings

        kwargs = self.client_kwargs(
            retry=retry,
            activity_requests_per_minute=activity_requests_per_minute,
            subaccount=subaccount,
            **retry_changes,
        )
        return ClientSettings.create(self.secret, **kwargs)


class Smtp2goConnectionError(AirflowFailException):
    """The ``smtp2go`` connection is missing or malformed: permanent, so the task fails without retries.

    ``conn_id`` is the connection asked for; ``field`` the bad setting (``None`` when the
    connection does not exist).
    """

    def __init__(self, message: str, *, conn_id: str, field: str | None = None) -> None:
        super().__init__(message)
        self.conn_id = conn_id
        self.field = field

    def __reduce__(self) -> Any:
        # Exceptions pickle as cls(*args); the keyword-only attributes must come along.
        return functools.partial(type(self), conn_id=self.conn_id, field=self.field), (str(self),)


def missing_connection_help(conn_id: str) -> str:
    """What to do when connection ``conn_id`` does not exist (the key goes in its Password).

    >>> print(missing_connection_help("smtp2go_default"))  # doctest: +ELLIPSIS
    The SMTP2GO connection 'smtp2go_default' does not exist...
      airflow connections add smtp2go_default --conn-type smtp2go --conn-password '<your SMTP2GO API key>'
    ...
      export AIRFLOW_CONN_SMTP2GO_DEFAULT='{"conn_type": "smtp2go", "password": "<your SMTP2GO API key>"}'
    """
    key = "<your SMTP2GO API key>"
    lines = [
        f"The SMTP2GO connection {conn_id!r} does not exist, so this fails without retries. Create it with "
        "the API key as its password: in the UI (Admin > Connections, type SMTP2GO), or",
        f"  airflow connections add {conn_id} --conn-type smtp2go --conn-password '{key}'",
    ]
    env_var = f"AIRFLOW_CONN_{conn_id.upper()}"
    if env_var.isidentifier():
        lines += [
            "or in the environment of every Airflow component:",
            f'  export {env_var}=\'{{"conn_type": "{CONNECTION_TYPE}", "password": "{key}"}}\'',
        ]
    return "\n".join(lines)


class Smtp2goHook(BaseHook):
    """Interact with SMTP2GO through a ``smtp2go`` connection.

    >>> hook = Smtp2goHook()                                    # doctest: +SKIP
    >>> result = hook.send_email(Email(sender=hook.default_sender, to="ops@example.com",
    ...                                subject="Hi", text_body="Hello"))  # doctest: +SKIP
    >>> result.email_id                                         # doctest: +SKIP

    :param smtp2go_conn_id: the connection to use (``smtp2go_default`` by default).
    :param retry_ambiguous_sends: retry a send whose outcome is unknown (a 5xx or read timeout
        after the request left). Off by default: SMTP2GO may already have accepted the email.
    """

    conn_name_attr = "smtp2go_conn_id"
    default_conn_name = "smtp2go_default"
    conn_type = CONNECTION_TYPE
    hook_name = "SMTP2GO"

    def __init__(
        self, smtp2go_conn_id: str = default_conn_name, *, retry_ambiguous_sends: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.smtp2go_conn_id = smtp2go_conn_id
        self.retry_ambiguous_sends = retry_ambiguous_sends
        self._settings: Smtp2goConnectionSettings | None = None
        self._async_settings: Smtp2goConnectionSettings | None = None
        self._client: Smtp2goClient | None = None
        self._subaccount: SubaccountRef | None = None
        #: How errors name the connection while ``test_connection`` runs (its id may be made up).
        self._testing_label: str | None = None

    # -- connection --------------------------------------------------------------------------
    def get_settings(self) -> Smtp2goConnectionSettings:
        """The parsed connection (looked up once per hook).

        :raises Smtp2goConnectionError: the connection is missing or malformed (an
            ``AirflowFailException``: retrying cannot help).
        """
        if self._settings is None:
            try:
                conn = self.get_connection(self.smtp2go_conn_id)
            except AirflowNotFoundException:
                raise self._missing_connection() from None
            settings = self._parse_connection(conn.password, dict(conn.extra_dejson))
            mask_secret(settings.api_key)
            self._settings = settings
        return self._settings

    async def aget_settings(self) -> Smtp2goConnectionSettings:
        """The parsed connection, fetched once per hook with async connection access only.

        The Task SDK masks the password of every connection it fetches; the sync
        ``mask_secret`` call is skipped here because it can block the event loop.
        """
        if self._async_settings is None:
            try:
                conn = await get_async_connection(self.smtp2go_conn_id)
            except AirflowNotFoundException:
                raise self._missing_connection() from None
            extra = await async_connection_extra(conn)
            self._async_settings = self._parse_connection(conn.password, extra)
        return self._async_settings

    def _missing_connection(self) -> Smtp2goConnectionError:
        return Smtp2goConnectionError(missing_connection_help(self.smtp2go_conn_id), conn_id=self.smtp2go_conn_id)

    def _parse_connection(self, password: str | None, extra: dict[str, Any]) -> Smtp2goConnectionSettings:
        from airflow_provider_smtp2go.client import Smtp2goValidationError

        try:
            return Smtp2goConnectionSettings.from_connection(
                self.smtp2go_conn_id, password, extra, label=self._testing_label
            )
        except Smtp2goValidationError as exc:
            raise Smtp2goConnectionError(
                f"{exc}. Fix the connection where it is defined (Admin > Connections, an AIRFLOW_CONN_* "
                "variable or a secrets backend); this fails without retries, as a retry would read the same value.",
                conn_id=self.smtp2go_conn_id,
                field=exc.field,
            ) from None

    @property
    def default_sender(self) -> str | None:
        """The connection's ``sender`` extra (``None`` when unset)."""
        return self.get_settings().sender

    # -- clients -----------------------------------------------------------------------------
    def get_client(
        self, *, retry: RetryPolicy | None = None, activity_requests_per_minute: float | None = None
    ) -> Smtp2goClient:
        """A ``Smtp2goClient`` for this connection, created once per hook and reused.

        With ``retry`` (e.g. ``RetryPolicy.no_retries()``) or ``activity_requests_per_minute``
        the client is built for the caller, not cached: close it when done.
        """
        from airflow_provider_smtp2go.client import Smtp2goClient

        if retry is not None or activity_requests_per_minute is not None:
            return Smtp2goClient(self._client_settings(self.get_settings(), retry, activity_requests_per_minute))
        if self._client is None:
            self._client = Smtp2goClient(self._client_settings(self.get_settings(), None, None))
        return self._client

    def get_conn(self) -> Smtp2goClient:
        """``BaseHook`` convention: same as ``get_client()``."""
        return self.get_client()

    async def aget_client(
        self, *, retry: RetryPolicy | None = None, activity_requests_per_minute: float | None = None
    ) -> AsyncSmtp2goClient:
        """A new ``AsyncSmtp2goClient``; close it (``async with``) when done.

        ``retry`` and ``activity_requests_per_minute`` override the connection's, as in ``get_client``.

        >>> async with await Smtp2goHook().aget_client() as client:  # doctest: +SKIP
        ...     page = await client.search_activity(search_email_id=email_id)
        """
        from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient

        settings = await self.aget_settings()
        return AsyncSmtp2goClient(self._client_settings(settings, retry, activity_requests_per_minute))

    def _client_settings(
        self, settings: Smtp2goConnectionSettings, retry: RetryPolicy | None, activity_requests_per_minute: float | None
    ) -> ClientSettings:
        # The hook's opt-in applies only to the connection's own policy: an explicit one is taken as is.
        changes = {} if retry is not None else {"retry_ambiguous_sends": self.retry_ambiguous_sends}
        return settings.client_settings(
            retry=retry,
            activity_requests_per_minute=activity_requests_per_minute,
            subaccount=self._subaccount_ref(settings),
            **changes,
        )

    def _subaccount_ref(self, settings: Smtp2goConnectionSettings) -> SubaccountRef | None:
        # One reference per hook, shared by its sync and async clients: a name is looked up once,
        # on the first call scoped to a subaccount, never while a DAG file is parsed.
        from airflow_provider_smtp2go.client.subaccounts import SubaccountRef

        if settings.subaccount_id is None:
            return None
        if self._subaccount is None or self._subaccount.given != settings.subaccount_id.strip():
            where = f"the subaccount_id extra of connection {settings.conn_id!r}"
            self._subaccount = SubaccountRef(settings.subaccount_id, source=self._testing_label or where)
        return self._subaccount

    def close(self) -> None:
        """Release pooled HTTP connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- sending -----------------------------------------------------------------------------
    def send_email(self, email: Email) -> SendResult:
        """Send one email; raises a ``Smtp2goError`` subclass unless SMTP2GO accepted it."""
        return self.get_client().send(email)

    async def asend_email(self, email: Email) -> SendResult:
        """Async twin of ``send_email`` (own short-lived client, async connection access)."""
        async with await self.aget_client() as client:
            return await client.send(email)

    # -- connection test and form ------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """Check the key with ``/api_keys/permissions``: read-only, sends no email.

        Errors say "the connection being tested": Airflow's test endpoint gives the connection
        a random id, which would mean nothing to the user.
        """
        from airflow_provider_smtp2go.client import Smtp2goAuthError, Smtp2goError

        self._testing_label = "the connection being tested"
        try:
            client = self.get_client()
            permissions = client.api_key_permissions()
        except Smtp2goConnectionError as exc:
            return False, str(exc)
        except Smtp2goAuthError as exc:
            return False, f"SMTP2GO rejected the API key of the connection being tested: {exc}"
        except Smtp2goError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        finally:
            self._testing_label = None
        can_send = any(p.strip("/") in ("email/send", "email/mime") for p in permissions)
        where = client.base_url
        if not can_send:
            return True, f"Connected to {where}, but this API key may not send email (permissions: {permissions})"
        # Verified senders, only where the key may look (a refused call counts towards the IP ban).
        allowed = {p.strip("/") for p in permissions}
        verified: list[str] = []
        try:
            if "domain/view" in allowed:
                verified += [d["domain"] for d in client.view_sender_domains() if d["verified"]]
            if "single_sender_emails/view" in allowed:
                verified += [s["email_address"] for s in client.view_single_senders() if s["verified"]]
        except Smtp2goError:
            pass  # the key works; the sender list is a bonus
        senders = f"; verified senders: {', '.join(verified)}" if verified else ""
        return True, f"Connected to {where}; the API key may call {len(permissions)} endpoints{senders}"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form layout for Airflow < 3.2 (same as ``ui-field-behaviour`` in provider info)."""
        behaviour = _connection_type_info()["ui-field-behaviour"]
        return {
            "hidden_fields": list(behaviour["hidden-fields"]),
            "relabeling": dict(behaviour["relabeling"]),
            "placeholders": dict(behaviour["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields for the connection form of Airflow < 3.2 (same as ``conn-fields``)."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, PasswordField, StringField
        from wtforms.validators import NumberRange, Optional, any_of

        widgets: dict[str, Any] = {}
        for name, spec in _connection_type_info()["conn-fields"].items():
            schema = spec.get("schema", {})
            types = schema.get("type", "string")
            kinds = {types} if isinstance(types, str) else set(types) - {"null"}
            label = lazy_gettext(spec["label"])
            common: dict[str, Any] = {"description": spec.get("description", ""), "default": schema.get("default")}
            validators: list[Any] = [Optional()]
            if "enum" in schema:
                validators.append(any_of(schema["enum"]))
            if schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), **common)
            elif kinds == {"integer"}:
                validators.append(NumberRange(min=schema.get("minimum")))
                widgets[name] = IntegerField(label, validators=validators, widget=BS3TextFieldWidget(), **common)
            else:
                # Numbers use a text field: wtforms' IntegerField would refuse "2.5" seconds.
                widgets[name] = StringField(label, validators=validators, widget=BS3TextFieldWidget(), **common)
        return widgets

    # -- webhooks ----------------------------------------------------------------------------
    def ensure_webhook(
        self,
        url: str,
        events: Iterable[str],
        *,
        sms_events: Iterable[str] = (),
        headers: Iterable[str] = (),
        usernames: Iterable[str] = (),
        output_format: str = "form",
        webhook_conn_id: str | None = "smtp2go_webhook",
        force_update: bool = False,
    ) -> dict[str, Any]:
        """Make the account's webhook for ``url`` match; safe to run again and again.

        Finds the webhook by URL, edits it when it differs, adds it when absent; after an add
        that got no usable answer it views again before adding (see
        :mod:`~airflow_provider_smtp2go.webhooks.registration`).  The secret SMTP2GO sends
        comes from ``webhook_conn_id``, the connection the receiver checks (password only:
        bearer; login and password: basic); it is masked in logs and never returned.
        ``webhook_conn_id=None`` registers a webhook without an auth header (the receiver
        refuses such posts).  Returns ``{"id", "action", "url"}``, ``action`` being
        ``created``, ``updated`` or ``unchanged``.

        >>> Smtp2goHook().ensure_webhook("https://airflow.example.com/smtp2go/webhooks/",
        ...                              ["bounce", "spam"])  # doctest: +SKIP
        {'id': 4317, 'action': 'created', 'url': 'https://airflow.example.com/smtp2go/webhooks/'}
        """
        from airflow_provider_smtp2go.webhooks.registration import WebhookSpec, ensure_webhook

        spec = WebhookSpec.create(
            url,
            events,
            secret=None if webhook_conn_id is None else self._webhook_secret(webhook_conn_id),
            sms_events=sms_events,
            headers=headers,
            usernames=usernames,
            output_format=output_format,
        )  # the client scopes every webhook call to the connection's subaccount, resolved once
        return ensure_webhook(self.get_client(), spec, force_update=force_update)

    def _webhook_secret(self, conn_id: str) -> WebhookSecret:
        from airflow_provider_smtp2go.webhooks.auth import secret_from_connection
        from airflow_provider_smtp2go.webhooks.registration import header_value

        try:
            conn = self.get_connection(conn_id)
        except AirflowNotFoundException:
            raise Smtp2goConnectionError(
                f"no connection {conn_id!r}: create it with the webhook secret in Password "
                "(add a Login for basic auth); the receiver checks posts against it",
                conn_id=conn_id,
            ) from None
        secret = secret_from_connection(conn.login, conn.password, dict(conn.extra_dejson or {}))
        if secret is None:
            raise Smtp2goConnectionError(
                f"connection {conn_id!r} has no webhook secret; put it in the Password field",
                conn_id=conn_id,
                field="password",
            )
        mask_secret(str(conn.password))
        mask_secret(header_value(secret))  # basic: the base64 form is a secret too
        return secret


#: What an Airflow task adds to an ambiguous call's own advice (which says, per endpoint, what to
#: check: ``client.protocol.AMBIGUOUS_ADVICE``): why the task stops, and the opt-in. Generic, so
#: it holds for an unanswered ``webhook/add`` as for a send.
AMBIGUOUS_TASK_HELP = (
    "It was not repeated (the request left, no usable answer came back), and this task will not be "
    "retried automatically: make that check before clearing the task. To let Airflow repeat such "
    "calls anyway, create the operator or hook with retry_ambiguous_sends=True."
)


def airflow_error(exc: Exception, *, retry_ambiguous: bool = False, conn_id: str | None = None) -> Exception:
    """The Airflow exception a task should raise for a client error.

    * permanent (bad input, bad key, rejected email, other 4xx) -> ``AirflowFailException``:
      retrying cannot help and error responses count towards SMTP2GO's IP ban;
    * ambiguous send (or ``webhook/add``) -> ``AirflowFailException`` saying what to check
      before repeating it (its endpoint's advice) and why the task stops, unless the user
      opted in to retrying those (``retry_ambiguous``): then Airflow's own retries apply too;
    * anything else (rate limit or 5xx after the client's own retries, connection failure)
      -> ``AirflowException``, so the task's Airflow retries apply.

    Messages keep the original text (which never contains the API key); for a rejected key
    they name ``conn_id``, the connection the key came from.

    >>> from airflow_provider_smtp2go.client import Smtp2goAuthError
    >>> print(airflow_error(Smtp2goAuthError("SMTP2GO email/send: bad key", status=401), conn_id="smtp2go_eu"))
    Smtp2goAuthError: SMTP2GO email/send: bad key (status=401)
    The API key is the Password of connection 'smtp2go_eu'.
    """
    from airflow_provider_smtp2go._compat import AirflowException
    from airflow_provider_smtp2go.client import Smtp2goAmbiguousSendError, Smtp2goAuthError, is_permanent
    from airflow_provider_smtp2go.client.protocol import ambiguous_advice

    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, Smtp2goAuthError) and conn_id:
        message += f"\nThe API key is the Password of connection {conn_id!r}."
    if isinstance(exc, Smtp2goAmbiguousSendError):
        if retry_ambiguous:
            return AirflowException(message)
        # The client's errors end with their endpoint's advice; one made elsewhere may not.
        advice = "" if exc.advice else f"\n{ambiguous_advice(exc.endpoint)}"
        return AirflowFailException(f"{message}{advice}\n{AMBIGUOUS_TASK_HELP}")
    if is_permanent(exc):
        return AirflowFailException(message)
    return AirflowException(message)
