"""What a customer's reply asks for. Its own module so that both readers of replies (the keyword
match in ``keywords`` and the sentence reader in ``refusals``) can name the answer."""

from __future__ import annotations

import enum


class Intent(str, enum.Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    UNSURE = "unsure"  # may be a refusal: the number is held until a person decides
    NONE = "none"
