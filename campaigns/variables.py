"""Where a campaign's variables take their values from: a contact field, a contact attribute or a constant.

One list for the spec's checks, the wizard's hint, the preview and the launch's SQL alike.
"""

from __future__ import annotations

SOURCES = ("field", "attribute", "constant")
# Contact fields a variable may be filled from ("source": "field"); each is a column of audience.models.Contact,
# or first_and_patronymic, the formal address ("Анна Сергеевна") that Contact composes in Python and in SQL alike.
CONTACT_FIELDS = ("name", "first_name", "patronymic", "last_name", "first_and_patronymic", "phone", "country",
                  "region", "city", "timezone", "language")
