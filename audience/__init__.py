"""Contacts, consent, import, phones, places (offline gazetteer) and segments."""
