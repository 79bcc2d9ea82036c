"""Faker provider for carrier test data: MSISDNs of a given country, operator and type, and alphanumeric senders."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import phonenumbers
from faker.providers import BaseProvider
from phonenumbers.carrierdata import CARRIER_DATA

from ..smpp.constants import Npi, Ton
from .numbering import (
    ALPHANUMERIC_MAX,
    ALPHANUMERIC_MIN,
    DEFAULT_OPERATOR_ALIASES,
    NUMBER_TYPES,
    AddressError,
    NumberingPlan,
    resolve_operator,
)

MAX_ATTEMPTS = 400
# Widen the kept prefix of the example number every so many misses: short prefixes give variety,
# long ones keep sparse ranges (premium rate, UAN...) reachable within the attempt budget.
_ATTEMPTS_PER_PREFIX_LENGTH = 40

_TYPE_CODES = {name: code for code, name in NUMBER_TYPES.items()}
_METADATA_FIELDS = {
    "fixed_line": "fixed_line",
    "mobile": "mobile",
    "fixed_line_or_mobile": "fixed_line",
    "toll_free": "toll_free",
    "premium_rate": "premium_rate",
    "shared_cost": "shared_cost",
    "voip": "voip",
    "personal_number": "personal_number",
    "pager": "pager",
    "uan": "uan",
    "voicemail": "voicemail",
}


class SmscProvider(BaseProvider):
    """Faker provider of MSISDNs that the numbering plan classifies back as requested, and of alphanumeric senders."""

    def __init__(self, generator: Any, operator_aliases: Mapping[str, str] | None = None) -> None:
        super().__init__(generator)
        aliases = DEFAULT_OPERATOR_ALIASES if operator_aliases is None else operator_aliases
        self._plan = NumberingPlan(operator_aliases=aliases)
        self._operator_prefixes: dict[tuple[str, str], list[tuple[str, int]]] = {}

    def msisdn(self, country: str = "FR", operator: str | None = None, number_type: str = "mobile") -> str:
        """A valid E.164 number with '+' of that country, number type and (when given) profile operator name."""
        region = country.upper()
        country_code = phonenumbers.country_code_for_region(region)
        if country_code == 0:
            raise ValueError(f"{country!r} is not a region phonenumbers knows")
        if number_type not in _METADATA_FIELDS:
            raise ValueError(f"cannot generate numbers of type {number_type!r}; use one of {sorted(_METADATA_FIELDS)}")
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        desc = getattr(metadata, _METADATA_FIELDS[number_type], None)
        possible = (desc.possible_length if desc else None) or metadata.general_desc.possible_length
        lengths = [n for n in possible if n > 0]
        rng = self.generator.random

        if operator is not None:
            blocks = self._blocks_of(region, country_code, operator)
            if not blocks:
                raise ValueError(f"phonenumbers has no number range of operator {operator!r} in {region}")
            prefixes, weights = zip(*blocks)
            for _ in range(MAX_ATTEMPTS):
                # Weighting by block size keeps big operator ranges as common as they are in real traffic.
                prefix = rng.choices(prefixes, weights)[0]
                candidate = self._fill(prefix, [n for n in lengths if n > len(prefix)] or lengths)
                if self._matches(country_code, candidate, region, number_type, operator):
                    return f"+{country_code}{candidate}"
            raise ValueError(f"no valid {number_type} number of {operator!r} in {region} after {MAX_ATTEMPTS} attempts")

        example = phonenumbers.example_number_for_type(region, _TYPE_CODES[number_type])
        if example is None:
            raise ValueError(f"phonenumbers has no {number_type} numbers for {region}")
        national = phonenumbers.national_significant_number(example)
        for attempt in range(MAX_ATTEMPTS):
            kept = min(len(national) - 1, 1 + attempt // _ATTEMPTS_PER_PREFIX_LENGTH)
            candidate = self._fill(national[:kept], [n for n in lengths if n > kept] or [len(national)])
            if self._matches(country_code, candidate, region, number_type, None):
                return f"+{country_code}{candidate}"
        if self._matches(country_code, national, region, number_type, None):
            return f"+{country_code}{national}"
        raise ValueError(f"no valid {number_type} number in {region} after {MAX_ATTEMPTS} attempts")

    def alphanumeric_sender(self) -> str:
        """A valid alphanumeric sender: 3 to 11 ASCII letters and digits, starting with a letter."""
        rng = self.generator.random
        length = rng.randint(ALPHANUMERIC_MIN, ALPHANUMERIC_MAX)
        sender = rng.choice(string.ascii_uppercase) + "".join(
            rng.choice(string.ascii_letters + string.digits) for _ in range(length - 1)
        )
        return sender

    def _fill(self, prefix: str, lengths: list[int]) -> str:
        rng = self.generator.random
        length = rng.choice(lengths)
        return prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix)))

    def _matches(self, country_code: int, national: str, region: str, number_type: str, operator: str | None) -> bool:
        # Classifying through the numbering plan itself guarantees that the number reads back as asked.
        try:
            address = self._plan.parse_destination(
                f"+{country_code}{national}", Ton.INTERNATIONAL, Npi.ISDN, account_country=None
            )
        except AddressError:
            return False
        return (
            address.country == region
            and address.number_type == number_type
            and (operator is None or address.operator == operator)
        )

    def _blocks_of(self, region: str, country_code: int, operator: str) -> list[tuple[str, int]]:
        key = (region, operator)
        if key not in self._operator_prefixes:
            cc = str(country_code)
            national_length = max(phonenumbers.PhoneMetadata.metadata_for_region(region).general_desc.possible_length)
            blocks = []
            for prefix, names in CARRIER_DATA.items():
                if not prefix.startswith(cc) or len(prefix) == len(cc):
                    continue
                if resolve_operator(region, names.get("en", ""), self._plan.operator_aliases) == operator:
                    national_prefix = prefix[len(cc) :]
                    blocks.append((national_prefix, 10 ** max(0, national_length - len(national_prefix))))
            # Sorted so that a seed's draws depend on the ranges themselves, not on how the data files are split.
            self._operator_prefixes[key] = sorted(blocks)
        return self._operator_prefixes[key]
