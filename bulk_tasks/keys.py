"""Where a run's API keys come from: the vendor's variable, or the one a row names.

A row's ``apiKeyEnv`` cell names the environment variable holding its key (one per team or
client); a blank cell, or no such column, means the vendor's own variable
(``LEMLIST_API_KEY``...). A variable is read when a row first needs it, so the vendor's
variable must be set only if some row uses it. Keys stay in this process: no message, log
line or file ever holds one, only the names of the variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .vendors.base import Vendor

#: the key a run on the built-in sandbox sends (the sandbox takes any key)
SANDBOX_KEY = "sandbox-demo-key"


@dataclass(frozen=True)
class Keys:
    """The keys of one run, by the name of the variable that holds them (the vendor's own,
    and those an ``apiKeyEnv`` column names, one per team or client). Give one to
    [`run`][bulk_tasks.run] when the keys are kept elsewhere than in the environment (a
    secrets store): ``Keys(settings.vendor, environ={"TEAM_B_KEY": ...})``.

    Attributes:
        vendor: the vendor (``settings.vendor``).
        given: the key of the vendor's own variable, when the caller already has it.
        sandbox: the built-in sandbox: every variable reads as a made-up key of its own.
        environ: where variables are read (default: this process's environment).
    """

    vendor: Vendor
    given: str | None = None
    sandbox: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def variable(self, named: str) -> str:
        """The variable a row's cell names ("": the vendor's own)."""
        return named or self.vendor.key_env

    def key(self, named: str) -> str | None:
        """The key in that variable; None when it is not set, or holds what no key holds."""
        env = self.variable(named)
        if env == self.vendor.key_env and self.given:
            return self.given
        if self.sandbox:
            return f"{self.given or 'sandbox'}-{env}"
        key = self._value(env)
        return key if key and flaw(key) is None else None

    def missing(self, named: str) -> str:
        """What to do when the variable gives no key: it is not set, or what it holds cannot
        be a key (a space inside, from a copy that took more than the key)."""
        env = self.variable(named)
        where = (
            f"({self.vendor.key_hint})"
            if env == self.vendor.key_env
            else f"(the {self.vendor.name} key of the rows that name it)"
        )
        found = flaw(self._value(env))
        if found is not None:
            return f"{env} holds {found}: an API key has none; copy the key again {where}"
        return f"{env} is not set: export {env}=your-key {where}"

    def _value(self, env: str) -> str:
        """The variable's value, without the spaces and new line a copy often takes along."""
        return self.environ.get(env, "").strip()


#: the characters a copy most often takes along with a key, by name
_NAMED = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}


def flaw(key: str) -> str | None:
    """What in ``key`` no API key holds, and no HTTP header could carry as it is: a space, a
    tab, a line break, a control character or one outside ASCII. None when there is none."""
    for character in key:
        if not "!" <= character <= "~":
            outside = (
                "a character outside plain ASCII" if character > "~" else "a control character"
            )
            return _NAMED.get(character, outside)
    return None
