"""Where a campaign's variables take their values from: a contact field, a contact attribute or a constant.

One list for the spec's checks, the wizard's hint, the preview and the launch's SQL alike.
"""

from __future__ import annotations

SOURCES = ("field", "attribute", "constant")
# Contact columns a variable may be filled from ("source": "field"); each is a column of audience.models.Contact.
CONTACT_FIELDS = ("name", "phone", "country", "region", "city", "timezone", "language")
