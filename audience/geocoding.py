"""Where an imported contact is: region, city, coordinates and time zone from the file and the number.

The order of trust, for the time zone: the file's coordinates, then its city, then its region, then
the number (a landline pins its zone; a Russian mobile may be in any of 11). An unknown city is kept
as written, with a warning, and never rejects a row on its own.
"""

from __future__ import annotations

from typing import Any

from audience.places import Place, Region, country_code, gazetteer, normalise_key


class Geocoder:
    """Resolves contacts one by one, asking the gazetteer once per distinct place text."""

    def __init__(self) -> None:
        self.gazetteer = gazetteer()
        self._cities: dict[tuple[str, str | None, str | None], Place | None] = {}
        self._regions: dict[tuple[str, str | None], Region | None] = {}
        self._zones: dict[tuple[float, float], str | None] = {}
        self._countries: dict[str, str | None] = {}

    def place(self, contact: dict[str, Any]) -> list[tuple[str, str]]:
        """Fill in ``contact``'s region, city key, place id, coordinates and zone; return warnings."""
        warnings: list[tuple[str, str]] = []
        country = self._country(contact.pop("country_hint", ""), contact["country"])
        region = self._region(contact["region"], country)
        city_text = contact["city"]
        place = self._city(city_text, country, contact["region"]) if city_text else None
        if city_text and place is None:
            warnings.append(("unknown_city", city_text))
        phone_region = contact.pop("phone_region", None)
        if region is not None:
            contact["region"] = region.name
        elif not contact["region"]:
            contact["region"] = (place.region if place else None) or self._region_name(phone_region, country)
        contact["city_key"] = normalise_key(city_text) if city_text else None
        contact["place_id"] = place.geonameid if place else None
        zone = None
        if contact["latitude"] is not None:
            zone = self._zone_at(contact["latitude"], contact["longitude"])
        elif place is not None:
            contact["latitude"], contact["longitude"] = place.latitude, place.longitude
        zone = zone or (place.timezone if place else None) or (region.timezone if region else None)
        contact["timezone"] = zone or contact["timezone"]
        return warnings

    def _country(self, hint: str, from_number: str | None) -> str | None:
        # The file's country column only helps to find the city; the number decides the country.
        if not hint:
            return from_number
        if hint not in self._countries:
            self._countries[hint] = country_code(hint)
        return self._countries[hint] or from_number

    def _city(self, text: str, country: str | None, region: str | None) -> Place | None:
        key = (text, country, region)
        if key not in self._cities:
            self._cities[key] = self.gazetteer.city(text, country, region)
        return self._cities[key]

    def _region(self, text: str | None, country: str | None) -> Region | None:
        if not text:
            return None
        key = (text, country)
        if key not in self._regions:
            self._regions[key] = self.gazetteer.region(text, country)
        return self._regions[key]

    def _region_name(self, text: str | None, country: str | None) -> str | None:
        region = self._region(text, country)
        return region.name if region else text

    def _zone_at(self, latitude: float, longitude: float) -> str | None:
        # Contacts of one shop share coordinates to a few hundred metres; so can their lookups.
        key = (round(latitude, 2), round(longitude, 2))
        if key not in self._zones:
            self._zones[key] = self.gazetteer.timezone_at(latitude, longitude)
        return self._zones[key]
