"""``Scrubber``: what is removed from every email before it leaves.

Three sources of secrets, applied to each piece of record text (message, traceback, stack,
formatted text, ``extra=`` attributes, logger name, path) *before* it is rendered, and again to
the rendered subject and bodies, so an overridden :meth:`Smtp2goHandler.render` cannot leak
them either:

1. the handler's own API key, with every run of 8 or more of its characters (the client's one
   :func:`~airflow_provider_smtp2go.client.redaction.redact`);
2. inside Airflow, every secret Airflow's secrets masker knows (connection passwords,
   sensitive variables, ``mask_secret(...)``).  Only maskers whose modules are already
   imported are asked: a masker that was never imported holds no secret, and the handler never
   imports Airflow itself;
3. the user's ``redact=[...]`` regular expressions.

If a masker fails, the text is withheld rather than sent unmasked.

>>> import re
>>> scrub = Scrubber("api-0123456789ABCDEF", patterns=(re.compile(r"token=\\w+"),))
>>> out = scrub.text("key api-0123456789ABCDEF, half 456789ABCDEF, token=abc, ok")
>>> "0123" in out, "89AB" in out, "abc" in out, out.endswith(", ok")
(False, False, False, True)
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from logging_handler.alert import Alert
from logging_handler.formatting import RenderedMail
from logging_handler.storm import GroupReport, Outgoing

REPLACEMENT = "***"

#: Where Airflow keeps its secrets masker: the Task SDK's and core's (3.x, separate instances),
#: and Airflow 2.11's.  Each module has ``redact(value)``.
AIRFLOW_MASKER_MODULES = (
    "airflow.sdk._shared.secrets_masker",
    "airflow._shared.secrets_masker",
    "airflow.utils.log.secrets_masker",
)


def _airflow_maskers() -> list[Callable[[Any], Any]]:
    maskers = []
    for name in AIRFLOW_MASKER_MODULES:
        module = sys.modules.get(name)
        redact = getattr(module, "redact", None) if module is not None else None
        if callable(redact):
            maskers.append(redact)
    return maskers


class Scrubber:
    """Removes the key, Airflow's masked secrets and ``patterns`` from text (see the module docstring)."""

    def __init__(self, api_key: str, *, patterns: Iterable[re.Pattern[str]] = ()) -> None:
        from airflow_provider_smtp2go.client.redaction import redact  # noqa: PLC0415  (keeps the import cheap)

        self._redact = redact
        self._secrets: tuple[str, ...] = ()
        self.patterns = tuple(patterns)
        self.set_key(api_key)

    def set_key(self, api_key: str) -> None:
        """Scrub ``api_key`` from now on (after the key was read again); the old one stays scrubbed."""
        escaped = html.escape(api_key)
        new = (api_key, escaped) if escaped != api_key else (api_key,)
        self._secrets = tuple(dict.fromkeys((*new, *self._secrets)))

    def __repr__(self) -> str:
        return f"<Scrubber {len(self._secrets)} key(s), {len(self.patterns)} pattern(s)>"

    def text(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        if not text:
            return text
        text = self._redact(text, *self._secrets)
        for pattern in self.patterns:
            text = pattern.sub(REPLACEMENT, text)
        for masker in _airflow_maskers():
            try:
                masked = masker(text)
            except Exception as exc:
                return f"(withheld: Airflow's secrets masker failed with {type(exc).__name__})"
            if not isinstance(masked, str):
                return "(withheld: Airflow's secrets masker returned no text)"
            text = masked
        return text

    def _optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def alert(self, alert: Alert) -> Alert:
        """Every text of ``alert`` scrubbed (what the formatter renders from)."""
        return replace(
            alert,
            name=self.text(alert.name),
            pathname=self.text(alert.pathname),
            func_name=self._optional(alert.func_name),
            thread_name=self._optional(alert.thread_name),
            message=self.text(alert.message),
            traceback=self._optional(alert.traceback),
            stack=self._optional(alert.stack),
            formatted=self._optional(alert.formatted),
            attrs={k: self.text(v) if isinstance(v, str) else v for k, v in alert.attrs.items()},
        )

    def outgoing(self, mail: Outgoing) -> Outgoing:
        """``mail`` with each group's sample and message texts scrubbed."""
        groups = tuple(self._group(report) for report in mail.groups)
        return replace(mail, groups=groups, refused_reason=self._optional(mail.refused_reason))

    def _group(self, report: GroupReport) -> GroupReport:
        messages = tuple((self.text(text), count) for text, count in report.messages)
        return replace(report, sample=self.alert(report.sample), messages=messages)

    def rendered(self, rendered: RenderedMail) -> RenderedMail:
        """The final subject and bodies scrubbed once more (``render`` may be overridden)."""
        return RenderedMail(self.text(rendered.subject), self.text(rendered.text), self._optional(rendered.html))
