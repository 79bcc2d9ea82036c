"""SMPP addresses classified as a carrier's numbering plan sees them: E.164 numbers, short codes, alphanumerics."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, carrier

from ..smpp.constants import CommandStatus, Npi, Ton

# Carrier names as phonenumbers 9.x reports them (carrier.name_for_number(num, "en")), mapped to the names
# the default network profile uses for its operators. Keys may be qualified "CC:Name": the same carrier
# name denotes different networks across countries ("Orange" is EE's legacy range in GB but a separate
# operator in Spain, Belgium, Poland...; "SFR" also names networks in Reunion and French Guiana), so an
# unqualified key would relabel foreign numbers.
#
# Names found in the FR (+33) carrier data: "Orange France", "SFR", "Bouygues", "Free Mobile", plus MVNOs
# and niche networks kept as they are ("Euroinformation Telecom", "La poste telecom", "Lebara France
# Limited", "Lycamobile", "Prixtel", "Transatel", "Syma mobile", "Afone", "e*Message", "Coriolis Telecom"...).
# Names found in the GB (+44) carrier data: "EE" and "Orange" (Orange UK ranges, run by EE since the 2010
# merger; T-Mobile UK ranges have no entry of their own), "O2", "Vodafone", "Three", plus MVNOs and
# aggregators kept as they are ("Virgin Mobile", "Sky", "Lycamobile", "Lebara", "Vectone Mobile"...).
# Channel Islands and Isle of Man ranges share +44 but belong to JE/GG/IM ("JT", "Sure", "Manx Telecom").
DEFAULT_OPERATOR_ALIASES: dict[str, str] = {
    "FR:Orange France": "Orange",
    "FR:SFR": "SFR",
    "FR:Bouygues": "Bouygues Telecom",
    "FR:Free Mobile": "Free",
    "GB:EE": "EE",
    "GB:Orange": "EE",
    "GB:O2": "O2",
    "GB:Vodafone": "Vodafone",
    "GB:Three": "Three",
}

NUMBER_TYPES: dict[int, str] = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}

VALID_TONS = frozenset(int(t) for t in Ton)
VALID_NPIS = frozenset(int(n) for n in Npi)
MAX_E164_DIGITS = 15
ALPHANUMERIC_MIN = 3
# 11 GSM 7-bit characters is all TP-OA can carry in its 10 octets.
ALPHANUMERIC_MAX = 11
# Every character here is in the GSM 03.38 default alphabet, so handsets display the sender unchanged.
_ALPHANUMERIC_CHARS = re.compile(r"[A-Za-z0-9 '\-._&+]+")
_DIGITS = re.compile(r"[0-9]+")
_COUNTRY = re.compile(r"[A-Z]{2}")

_ERRORS = {
    "destination": (CommandStatus.ESME_RINVDSTADR, CommandStatus.ESME_RINVDSTTON, CommandStatus.ESME_RINVDSTNPI),
    "source": (CommandStatus.ESME_RINVSRCADR, CommandStatus.ESME_RINVSRCTON, CommandStatus.ESME_RINVSRCNPI),
}


# Builds the AddressError of the role being parsed; the status defaults to the role's "invalid address".
_Fail = Callable[..., "AddressError"]


class AddressError(ValueError):
    """An SMPP address the numbering plan rejects, with the command_status to answer."""

    def __init__(self, status: int, address: str, reason: str, role: str = "destination") -> None:
        self.status = int(status)
        self.address = address
        self.reason = reason
        self.role = role
        super().__init__(f"invalid {role} address {address!r}: {reason}")


@dataclass(frozen=True)
class Address:
    """An SMPP address after classification by the numbering plan."""

    raw: str
    ton: int
    npi: int
    kind: str
    e164: str | None = None
    country: str | None = None
    operator: str | None = None
    number_type: str | None = None
    ported: bool = False


def normalize(address: Address) -> str:
    """Canonical key of an address: E.164 with '+', short code digits or the alphanumeric text."""
    return address.e164 if address.e164 is not None else address.raw


def resolve_operator(country: str | None, carrier_name: str, aliases: Mapping[str, str]) -> str | None:
    """The profile's operator name for a phonenumbers carrier name, the country-qualified alias first."""
    if not carrier_name:
        return None
    if country and f"{country}:{carrier_name}" in aliases:
        return aliases[f"{country}:{carrier_name}"]
    return aliases.get(carrier_name, carrier_name)


def alphanumeric_problem(text: str) -> str | None:
    """Why text cannot be an alphanumeric sender, or None when it can."""
    if not ALPHANUMERIC_MIN <= len(text) <= ALPHANUMERIC_MAX:
        return f"alphanumeric sender must have {ALPHANUMERIC_MIN} to {ALPHANUMERIC_MAX} characters, not {len(text)}"
    if not _ALPHANUMERIC_CHARS.fullmatch(text):
        return "alphanumeric sender may only hold ASCII letters, digits, space and ' - . _ & +"
    # A sender without a letter would be taken for a phone number that cannot be replied to.
    if not any(c.isalpha() for c in text):
        return "alphanumeric sender must contain a letter"
    return None


class NumberingPlan:
    """Turns SMPP (address, TON, NPI) triples into classified addresses, or AddressError."""

    def __init__(
        self,
        short_codes: Mapping[str, str] | None = None,
        ported: Mapping[str, str] | None = None,
        operator_aliases: Mapping[str, str] | None = None,
        require_plus: bool = False,
        number_type_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.short_codes = {
            code: _country(country, f"short code {code!r}") for code, country in (short_codes or {}).items()
        }
        for code in self.short_codes:
            if not _DIGITS.fullmatch(code):
                raise ValueError(f"short code {code!r} must be digits only")
        self.ported = {_e164_key(number, "ported"): operator for number, operator in (ported or {}).items()}
        self.operator_aliases = dict(DEFAULT_OPERATOR_ALIASES if operator_aliases is None else operator_aliases)
        self.require_plus = require_plus
        self.number_type_overrides = {
            _e164_key(number, "number type override"): kind for number, kind in (number_type_overrides or {}).items()
        }
        known = set(NUMBER_TYPES.values())
        for number, kind in self.number_type_overrides.items():
            if kind not in known:
                raise ValueError(f"number type override for {number}: {kind!r} is not one of {sorted(known)}")

    def parse_destination(self, addr: str, ton: int, npi: int, *, account_country: str | None) -> Address:
        """Classify a destination address; alphanumeric destinations are refused."""
        return self._parse(addr, ton, npi, account_country, "destination")

    def parse_source(self, addr: str, ton: int, npi: int, *, account_country: str | None) -> Address:
        """Classify a source address, alphanumeric senders included."""
        return self._parse(addr, ton, npi, account_country, "source")

    def classify_e164(
        self, e164: str, ton: int = Ton.INTERNATIONAL, npi: int = Npi.ISDN, raw: str | None = None
    ) -> Address:
        """Country, operator and number type of a number already known to be valid E.164 with '+'."""
        number = phonenumbers.parse(e164)
        region = phonenumbers.region_code_for_number(number)
        # Non-geographic entities (+800, +881...) come back as "001", which is no ISO 3166 country.
        country = region if region and _COUNTRY.fullmatch(region) else None
        operator = resolve_operator(country, carrier.name_for_number(number, "en"), self.operator_aliases)
        number_type = NUMBER_TYPES.get(phonenumbers.number_type(number), "unknown")
        is_ported = e164 in self.ported
        if is_ported:
            operator = self.ported[e164]
        number_type = self.number_type_overrides.get(e164, number_type)
        return Address(
            raw=e164 if raw is None else raw,
            ton=int(ton),
            npi=int(npi),
            kind="e164",
            e164=e164,
            country=country,
            operator=operator,
            number_type=number_type,
            ported=is_ported,
        )

    # --- rules -----------------------------------------------------------------------------------

    def _parse(self, addr: str, ton: int, npi: int, account_country: str | None, role: str) -> Address:
        adr_status, ton_status, npi_status = _ERRORS[role]

        def fail(reason: str, status: int = adr_status) -> AddressError:
            return AddressError(status, addr, reason, role)

        if ton not in VALID_TONS:
            raise fail(f"TON {ton} is not a defined type of number", ton_status)
        if npi not in VALID_NPIS:
            raise fail(f"NPI {npi} is not a defined numbering plan indicator", npi_status)
        if not addr:
            raise fail("address is empty")
        country = account_country.upper() if account_country else None

        if ton == Ton.ALPHANUMERIC:
            if role == "destination":
                raise fail("an alphanumeric address (TON 5) cannot be a destination")
            return self._alphanumeric(addr, ton, npi, fail)
        # SMSCs look up their short-code table before the numbering plan, whatever TON the ESME claims.
        if addr in self.short_codes:
            return self._short_code(addr, ton, npi)
        if ton in (Ton.NETWORK_SPECIFIC, Ton.ABBREVIATED):
            raise fail(f"{addr!r} is not a short code of this network (TON {ton})")
        if ton == Ton.INTERNATIONAL:
            if addr.startswith("+"):
                return self._international(addr[1:], addr, ton, npi, fail)
            if self.require_plus:
                raise fail("international number (TON 1) must start with '+'")
            return self._international(addr, addr, ton, npi, fail)
        if ton in (Ton.NATIONAL, Ton.SUBSCRIBER_NUMBER):
            # Mobile ranges have no area code, so a subscriber number reads like a national one.
            return self._national(addr, ton, npi, country, fail, allow_idd=False)
        return self._unknown(addr, ton, npi, country, role, fail)

    def _unknown(self, addr: str, ton: int, npi: int, country: str | None, role: str, fail: _Fail) -> Address:
        if addr.startswith("+"):
            return self._international(addr[1:], addr, ton, npi, fail)
        # Many ESMEs leave TON at 0 for alphanumeric senders, so a letter means alphanumeric, not a typo.
        if role == "source" and any(c.isalpha() for c in addr):
            return self._alphanumeric(addr, ton, npi, fail)
        if not _DIGITS.fullmatch(addr):
            raise fail("address with TON 0 must be digits, '+' and digits, or a declared short code")
        try:
            return self._international(addr, addr, ton, npi, fail)
        except AddressError as international_error:
            if country is None:
                raise fail(f"not a valid international number ({international_error.reason}) "
                           "and no account country to read it as national") from None
        # With TON 0 an IDD prefix ("00" from France) is how subscribers dial abroad, so accept it here.
        return self._national(addr, ton, npi, country, fail, allow_idd=True)

    def _international(self, digits: str, raw: str, ton: int, npi: int, fail: _Fail) -> Address:
        if not _DIGITS.fullmatch(digits):
            raise fail("international number must be digits after an optional '+'")
        if len(digits) > MAX_E164_DIGITS:
            raise fail(f"international number has {len(digits)} digits, E.164 allows {MAX_E164_DIGITS}")
        if not any(int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for n in (1, 2, 3) if len(digits) >= n):
            raise fail("unknown country code")
        try:
            number = phonenumbers.parse("+" + digits)
        except NumberParseException as exc:
            raise fail(f"not a phone number ({exc})") from None
        if not phonenumbers.is_valid_number(number):
            raise fail("not a valid number in its country's numbering plan")
        return self.classify_e164(_e164(number), ton, npi, raw)

    def _national(self, addr: str, ton: int, npi: int, country: str | None, fail: _Fail, *, allow_idd: bool) -> Address:
        if country is None:
            raise fail(f"national number (TON {ton}) needs the account's country to be resolved")
        if not _DIGITS.fullmatch(addr):
            raise fail("national number must be digits only")
        try:
            number = phonenumbers.parse(addr, country, keep_raw_input=True)
        except NumberParseException as exc:
            raise fail(f"not a phone number in {country} ({exc})") from None
        allowed = {phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY}
        if allow_idd:
            allowed.add(phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD)
        # phonenumbers would also read a leading country code or IDD prefix; a national TON forbids both.
        if number.country_code_source not in allowed:
            raise fail(f"not a national number of {country}")
        if not phonenumbers.is_valid_number(number):
            raise fail(f"not a valid number in {country}'s numbering plan")
        return self.classify_e164(_e164(number), ton, npi, addr)

    def _short_code(self, addr: str, ton: int, npi: int) -> Address:
        return Address(
            raw=addr,
            ton=int(ton),
            npi=int(npi),
            kind="short_code",
            country=self.short_codes[addr],
            number_type="short_code",
        )

    def _alphanumeric(self, addr: str, ton: int, npi: int, fail: _Fail) -> Address:
        problem = alphanumeric_problem(addr)
        if problem:
            raise fail(problem)
        return Address(raw=addr, ton=int(ton), npi=int(npi), kind="alphanumeric")


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _country(value: str, what: str) -> str:
    country = value.upper()
    if not _COUNTRY.fullmatch(country):
        raise ValueError(f"{what}: {value!r} is not an ISO 3166 alpha-2 country code")
    return country


def _e164_key(number: str, what: str) -> str:
    if not (number.startswith("+") and _DIGITS.fullmatch(number[1:]) and len(number) <= MAX_E164_DIGITS + 1):
        raise ValueError(f"{what} entry {number!r} must be an E.164 number with '+'")
    return number
