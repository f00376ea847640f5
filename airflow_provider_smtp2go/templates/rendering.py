"""How a template's ``{{ variable }}`` placeholders are filled: the one rule the sandbox uses
for sends and the local preview uses for CI checks.

A placeholder is ``{{ name }}`` (spaces optional; letters, digits, ``_ . -``); an unknown
variable renders empty, as the sandbox does.  SMTP2GO's own engine supports more (block
helpers such as ``{{#if}}`` and HTML escaping rules are UNVERIFIED here): text in braces that
is not a plain placeholder is left as it is and reported by :func:`unparsed_braces`.

>>> render_template("Hi {{ name }}, order {{order_id}}", {"name": "Ann"})
'Hi Ann, order '
>>> sorted(placeholders("{{ a }} {{b}} {{ a }}"))
['a', 'b']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_BRACES = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def render_template(text: str, data: Mapping[str, Any]) -> str:
    """Substitute ``{{ var }}`` placeholders from ``data``; unknown variables render empty."""
    return PLACEHOLDER.sub(lambda m: str(data.get(m.group(1), "")), text)


def placeholders(text: str) -> set[str]:
    """The variable names ``text`` uses."""
    return {m.group(1) for m in PLACEHOLDER.finditer(text)}


def unparsed_braces(text: str) -> list[str]:
    """``{{ ... }}`` runs that are not plain placeholders (the preview cannot render them).

    >>> unparsed_braces("{{#if vip}}Dear VIP{{/if}} {{ name }}")
    ['{{#if vip}}', '{{/if}}']
    """
    return [m.group(0) for m in _BRACES.finditer(text) if not PLACEHOLDER.fullmatch(m.group(0))]
