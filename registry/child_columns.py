"""A child record as a row of a table: the columns officers' spreadsheets use, both ways.

The import (registry/imports.py) reads rows of CSV, XLSX or JSON Lines into
`ChildRow`s and the export (projections/export.py) writes records as rows of
the same columns, so a file the registry exported can be imported again, and
an officer can fix the rejected rows of an import's report and send them back.

Every column has a field name (the English heading, as in JSON Lines), a
Vietnamese heading as officers' registers write it (Sổ theo dõi trẻ em), and
the other headings seen in practice; headings are matched letter for letter
once diacritics, case, spaces and punctuation are folded away ("Họ và tên",
"HO VA TEN" and "ho_va_ten" are one heading). Values are read the same way:
"Nữ", "nu", "female" and "F" are one sex. Each reader names the field and
the reason when a value cannot be read (`CellError`); a value is never
echoed in an error (it may be a child's name).

An empty cell means "not given": on a record already in the registry it
leaves the stored value as it is (clearing a stored value is an officer's
correction, not an import's). `groups` is the exception that has a word for
"none": "không" (or "none") says the child is in no group.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .children import BirthRegistration, CaregiverStatus, DatePrecision, NewCaregiver, Relation, Sex
from .circumstances import ETHNIC_GROUPS, GROUPS
from .gazetteer import fold


class CellError(ValueError):
    """A value that cannot be read: `reason` is a code (impossible_date, wrong_encoding, ...), never the value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # the field, and its English heading
    vietnamese: str  # the heading of the registry's own files
    aliases: tuple[str, ...]  # other headings seen in officers' spreadsheets
    description: str
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("child_id", "Mã trẻ em (hệ thống)", ("ma tre em he thong", "ma he thong", "registry id"),
           "the registry's own id of the record (in the registry's exports); given, the row is that record"),
    Column("source_key", "Mã hồ sơ nguồn", ("ma ho so", "ma tre em", "ma nguon", "ma dinh danh ho so", "id",
                                            "record id", "ma so"),
           "the record's key in the source (the national child database's id, a spreadsheet's own number)"),
    Column("full_name", "Họ và tên", ("ho ten", "ho va ten tre em", "ho ten tre em", "ten tre em", "name"),
           "the child's full name", required=True),
    Column("date_of_birth", "Ngày sinh", ("ngay thang nam sinh", "ngay sinh tre em", "dob", "birth date",
                                          "nam sinh"),
           "dd/mm/yyyy or yyyy-mm-dd; mm/yyyy or yyyy when only the month or the year is known", required=True),
    Column("sex", "Giới tính", ("gioi", "gender", "nam nu"), "Nam, Nữ, Không rõ (male, female, unknown)",
           required=True),
    Column("ethnicity", "Dân tộc", ("ma dan toc", "ethnic group"),
           "the code of the 54 ethnic groups (01-54) or the group's name (Kinh, Thái, Hmông, ...)"),
    Column("personal_id", "Số định danh cá nhân", ("so dinh danh", "ma dinh danh ca nhan", "ma so dinh danh",
                                                   "so ddcn", "so cccd", "personal id number"),
           "12 digits (keep the column as text in a spreadsheet: a number loses its leading 0)"),
    Column("personal_id_mismatch_reason", "Lý do chấp nhận số định danh", ("ly do so dinh danh",),
           "why a personal identification number that disagrees with the sex or year of birth is accepted"),
    Column("birth_registration", "Đăng ký khai sinh", ("da dang ky khai sinh", "khai sinh", "birth registered"),
           "Có, Không, Không rõ (registered, not_registered, unknown)"),
    Column("commune_code", "Mã xã", ("ma don vi hanh chinh cap xa", "ma dvhc xa", "ma dvhc", "ma xa phuong",
                                     "ma xa phuong thi tran", "commune"),
           "5 digits: the commune lived in, under the code in force on the residence date (a legacy code for a "
           "date before 2025-07-01)", required=True),
    Column("residence_from", "Cư trú từ ngày", ("ngay den cu tru", "thuong tru tu ngay", "cu tru tu",
                                                "residing since"),
           "the day the child has lived in the commune since (default: the import's collection day)"),
    Column("address", "Địa chỉ", ("dia chi thon xom", "thon xom", "thon ap ban", "dia chi thon ap ban", "thon"),
           "below the commune: hamlet, village, street"),
    Column("father_name", "Họ tên cha", ("ho va ten cha", "ten cha", "father"), "the father's name"),
    Column("father_status", "Tình trạng cha", ("tinh trang cua cha",),
           "Còn sống, Đã mất, Mất tích, Đang chấp hành án phạt tù, Ở cơ sở trợ giúp xã hội, Mất năng lực hành vi "
           "dân sự (alive, deceased, missing, imprisoned, in_facility, incapable)"),
    Column("mother_name", "Họ tên mẹ", ("ho va ten me", "ten me", "mother"), "the mother's name"),
    Column("mother_status", "Tình trạng mẹ", ("tinh trang cua me",), "as for the father"),
    Column("caregiver_names", "Họ tên người chăm sóc", ("nguoi cham soc", "nguoi giam ho", "caregivers"),
           "other caregivers, separated by ';'"),
    Column("caregiver_relations", "Quan hệ người chăm sóc", ("quan he", "quan he voi tre"),
           "for each: Người thân thích, Không phải người thân, Người giám hộ, Cơ sở trợ giúp xã hội, Cha, Mẹ "
           "(relative, non_relative, guardian, facility, father, mother), separated by ';'"),
    Column("caregiver_statuses", "Tình trạng người chăm sóc", ("tinh trang nguoi giam ho",),
           "for each, as for the father (default: alive), separated by ';'"),
    Column("groups", "Nhóm hoàn cảnh đặc biệt", ("nhom tre em co hoan canh dac biet", "nhom hcdb", "hoan canh dac biet",
                                                 "nhom", "tre em co hoan canh dac biet"),
           "the groups of Law on Children Art. 10(1) by letter (a, b, c, d, đ, e, g, h, i, k, l, m, n, o) or code, "
           "with the sub-group after ':' and the first day after '@', separated by ';' (d:mild@2024-03-01); "
           "'không' (none): in no group"),
    Column("groups_from", "Ngày xác định nhóm", ("ngay xac dinh", "tu ngay nhom", "classified on"),
           "the first day of the groups that give none (default: the import's collection day)"),
)  # fmt: skip

BY_NAME = {column.name: column for column in COLUMNS}
REQUIRED = tuple(column.name for column in COLUMNS if column.required)

# Columns an import's report adds to the rows it gives back (and that an import of the report ignores).
REPORT_COLUMNS = (("line", "Dòng"), ("fields", "Trường lỗi"), ("reasons", "Lý do"))
# Columns an export adds for the reader (and that an import ignores).
EXPORT_COLUMNS = (("commune_now", "Mã xã hiện nay"), ("commune_name", "Tên xã hiện nay"))
IGNORED = {fold(h) for pair in REPORT_COLUMNS + EXPORT_COLUMNS for h in pair}


def heading_key(heading: object) -> str:
    """A heading as it is matched: folded, one space between words ('Họ và tên' -> 'ho va ten')."""
    return fold(str(heading)).replace("_", " ")


_HEADINGS: dict[str, str] = {}
for _column in COLUMNS:
    for _heading in (_column.name, _column.name.replace("_", " "), _column.vietnamese, *_column.aliases):
        _key = heading_key(_heading)
        assert _HEADINGS.get(_key, _column.name) == _column.name, f"heading {_heading!r} names two columns"
        _HEADINGS[_key] = _column.name


def column_of(heading: object) -> str | None:
    """The field a heading names (None: not a column of a child record)."""
    return _HEADINGS.get(heading_key(heading))


# -- reading values ------------------------------------------------------------------------------------------------

# The letters of Vietnamese (and the f, j, w, z of minority languages' names), in NFC, and the marks of names.
_VIETNAMESE = "abcdefghijklmnopqrstuvwxyzđàáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ"
_NAME = re.compile(f"[{_VIETNAMESE} '’.-]+")
_SURROGATE = re.compile("[\udc80-\udcff]")


def text(value: object, *, name: bool = False, max_length: int = 300) -> str | None:
    """A text cell in one form (NFC, single spaces), or None when empty; text in another encoding is refused.

    A file saved in another encoding than UTF-8 shows as bytes that do not decode (`surrogateescape`), or, when it
    was decoded as Windows-1252, as 'Nguyá»…n'; a name typed in a legacy Vietnamese font (TCVN3, VNI) shows as
    letters no Vietnamese word has. With `name`, only letters and the marks of names are taken.
    """
    if value is None:
        return None
    raw = str(value)
    if _SURROGATE.search(raw):
        raise CellError("wrong_encoding", "is not UTF-8 text: save the file as CSV UTF-8 (Unicode)")
    cleaned = " ".join(unicodedata.normalize("NFC", raw).split())
    if not cleaned:
        return None
    if _mojibake(cleaned):
        raise CellError("wrong_encoding", "is UTF-8 text read as Windows-1252 (Ã, á»): open and save it as UTF-8")
    if not cleaned.isprintable():
        raise CellError("invalid_character", "holds a control character")
    if len(cleaned) > max_length:
        raise CellError("too_long", f"is longer than {max_length} characters")
    if name and not _NAME.fullmatch(cleaned.lower()):
        for ch in cleaned.lower():
            if _NAME.fullmatch(ch):
                continue
            if unicodedata.category(ch).startswith("L") or "\u00a0" <= ch <= "\u00ff":
                raise CellError("wrong_encoding", "holds letters of no Vietnamese name: text typed in a legacy font "
                                "(TCVN3, VNI) must be converted to Unicode")  # fmt: skip
            raise CellError("invalid_character", "holds a character that is not a letter of a name")
    return cleaned


# A letter of Latin-1 followed by what a UTF-8 continuation byte shows as in Windows-1252 ('á»', 'Ã¡', 'Æ°'): the
# mark of UTF-8 text decoded as Windows-1252. Vietnamese text never has it (its letters of Latin-1 are followed by
# letters, spaces or marks of names).
_MOJIBAKE_MARK = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
                            "\u02c6\u02dc\u2013-\u2026\u2030\u2039\u203a\u20ac\u2122\ufffd]")  # fmt: skip


def _mojibake(value: str) -> bool:
    return _MOJIBAKE_MARK.search(value) is not None


def required_text(value: object, **options: Any) -> str:
    found = text(value, **options)
    if found is None:
        raise CellError("missing", "is required")
    return found


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_MY = re.compile(r"^(\d{1,2})[/.-](\d{4})$")
_YM = re.compile(r"^(\d{4})-(\d{1,2})$")
_Y = re.compile(r"^(\d{4})$")


def day(value: object) -> tuple[date, DatePrecision] | None:
    """A date cell and how much of it is known: dd/mm/yyyy (Vietnamese order) or yyyy-mm-dd; mm/yyyy or yyyy-mm
    (the month); yyyy (the year). A spreadsheet's date cell is a day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date(), DatePrecision.DAY
    if isinstance(value, date):
        return value, DatePrecision.DAY
    if isinstance(value, int) and not isinstance(value, bool) and 1900 <= value <= 2999:
        return date(value, 1, 1), DatePrecision.YEAR
    raw = str(value).strip()
    if not raw:
        return None
    for pattern, order, precision in ((_ISO, (0, 1, 2), DatePrecision.DAY), (_DMY, (2, 1, 0), DatePrecision.DAY),
                                      (_YM, (0, 1), DatePrecision.MONTH), (_MY, (1, 0), DatePrecision.MONTH),
                                      (_Y, (0,), DatePrecision.YEAR)):  # fmt: skip
        match = pattern.match(raw)
        if match is None:
            continue
        parts = [int(match.group(i + 1)) for i in order]
        year, month, dom = (parts + [1, 1])[:3]
        try:
            return date(year, month, dom), precision
        except ValueError:
            raise CellError("impossible_date", "is not a date of the calendar (day or month out of range)") from None
    raise CellError("unreadable_date", "is not a date: write dd/mm/yyyy (or yyyy-mm-dd; mm/yyyy; yyyy)")


def plain_day(value: object) -> date | None:
    found = day(value)
    if found is not None and found[1] is not DatePrecision.DAY:
        raise CellError("imprecise_date", "needs the day, month and year")
    return None if found is None else found[0]


def _choices(table: dict[str, tuple[str, ...]], kind: Callable[[str], Any], hint: str) -> Callable[[object], Any]:
    words = {heading_key(word): kind(code) for code, synonyms in table.items() for word in (code, *synonyms)}

    def read(value: object) -> Any:
        if value is None or not str(value).strip():
            return None
        found = words.get(heading_key(value))
        if found is None:
            raise CellError("unknown_value", f"must be one of: {hint}")
        return found

    return read


sex = _choices({"male": ("nam", "m", "trai"), "female": ("nu", "f", "gai"),
                "unknown": ("khong ro", "chua ro", "khong xac dinh")}, Sex, "Nam, Nữ, Không rõ")  # fmt: skip
birth_registration = _choices({
    "registered": ("co", "x", "yes", "da dang ky", "da dk", "da khai sinh", "true", "1"),
    "not_registered": ("khong", "chua", "no", "chua dang ky", "chua dk", "chua khai sinh", "false", "0"),
    "unknown": ("khong ro", "chua ro"),
}, BirthRegistration, "Có, Không, Không rõ")  # fmt: skip
_STATUS = {
    "alive": ("con song", "song", "binh thuong"),
    "deceased": ("da mat", "mat", "da chet", "chet", "qua doi", "da qua doi"),
    "missing": ("mat tich",),
    "imprisoned": ("dang chap hanh an phat tu", "chap hanh an phat tu", "o tu", "dang o tu", "tu"),
    "in_facility": ("o co so tro giup xa hoi", "o co so", "in facility", "co so giao duc bat buoc", "cai nghien"),
    "incapable": ("mat nang luc hanh vi dan su", "mat nang luc"),
}
caregiver_status = _choices(_STATUS, CaregiverStatus, "Còn sống, Đã mất, Mất tích, Đang chấp hành án phạt tù, ...")
relation = _choices({
    "father": ("cha", "bo", "ba"), "mother": ("me", "ma"),
    "relative": ("nguoi than thich", "nguoi than", "ong", "ba noi", "ba ngoai", "ong noi", "ong ngoai", "co", "chu",
                 "bac", "di", "cau", "anh", "chi"),
    "non_relative": ("khong phai nguoi than", "khong phai nguoi than thich", "non relative"),
    "guardian": ("nguoi giam ho", "giam ho"), "facility": ("co so tro giup xa hoi", "co so", "trung tam"),
}, Relation, "Người thân thích, Không phải người thân, Người giám hộ, Cơ sở trợ giúp xã hội, Cha, Mẹ")  # fmt: skip

_ETHNIC_ALIASES = {"mong": "08", "meo": "08", "khmer": "05", "kho me": "05", "khome": "05", "ede": "12",
                   "bru van kieu": "23", "van kieu": "23", "hoa han": "04"}  # fmt: skip
_ETHNIC = {fold(name).replace(" ", ""): code for code, name in ETHNIC_GROUPS.items()} | {
    k.replace(" ", ""): v for k, v in _ETHNIC_ALIASES.items()}  # fmt: skip


def ethnicity(value: object) -> str | None:
    """A GSO code of the 54 ethnic groups, from the code (1 or 01) or the group's name, with or without diacritics."""
    if value is None or not str(value).strip():
        return None
    raw = str(value).strip()
    if raw.isdigit() and 1 <= int(raw) <= len(ETHNIC_GROUPS):
        return f"{int(raw):02d}"
    found = _ETHNIC.get(fold(raw).replace(" ", ""))
    if found is None:
        raise CellError("unknown_ethnicity", "is not a code (01-54) or name of the 54 ethnic groups")
    return found


def commune_code(value: object) -> str | None:
    """A commune's 5-digit code; a spreadsheet that kept it as a number lost its leading zeros, given back here
    (every commune code has 5 digits: QĐ 124/2004/QĐ-TTg)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    raw = str(value).strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5:
        raise CellError("invalid_code", "must be the 5-digit code of a commune")
    return raw.zfill(5)


def personal_id(value: object) -> str | None:
    """Số định danh cá nhân: 12 digits; spaces and dots between groups of digits are dropped."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    raw = re.sub(r"[\s.]", "", str(value))
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise CellError("invalid_format", "must be 12 digits")
    if len(raw) == 11:
        raise CellError("invalid_format", "has 11 digits: a spreadsheet that kept it as a number dropped its "
                        "leading 0 (format the column as text)")  # fmt: skip
    if len(raw) != 12:
        raise CellError("invalid_format", "must be 12 digits")
    return raw


_LETTERS = {g.letter: g.code for g in GROUPS.values()} | {"dd": "hiv_aids"}
_NONE = {"khong", "none", "khong co", "khong thuoc nhom nao"}
_GROUP_ITEM = re.compile(r"^\s*([^:@]+?)\s*(?::\s*([^@]+?)\s*)?(?:@\s*(\S+)\s*)?$")


@dataclass(frozen=True, slots=True)
class GroupCell:
    code: str
    subgroup: str | None
    start: date | None


def groups(value: object) -> tuple[GroupCell, ...] | None:
    """The groups of Art. 10(1) a cell names ('d:mild@2024-03-01; a'); () for 'không', None when empty."""
    if value is None or not str(value).strip():
        return None
    raw = unicodedata.normalize("NFC", str(value)).strip()
    if heading_key(raw) in _NONE:
        return ()
    found: dict[str, GroupCell] = {}
    for item in re.split(r"[;,]", raw):
        if not item.strip():
            continue
        match = _GROUP_ITEM.match(item)
        if match is None:
            raise CellError("unknown_group", "is not a list of groups such as 'd:mild; a'")
        name, sub, start = match.groups()
        code = _LETTERS.get(name.strip().lower()) or (name.strip() if name.strip() in GROUPS else None)
        if code is None:
            raise CellError("unknown_group", "names a group that is not one of Law on Children Art. 10(1)")
        subgroup = None if sub is None else _subgroup(code, sub)
        if code in found:
            raise CellError("repeated_group", "names a group twice")
        found[code] = GroupCell(code, subgroup, None if start is None else _group_start(start))
    return tuple(found.values())


def _subgroup(code: str, value: str) -> str:
    table = GROUPS[code].subgroups
    if value in table:
        return value
    wanted = heading_key(value)
    for sub, vietnamese in table.items():
        if heading_key(vietnamese) == wanted:
            return sub
    raise CellError("unknown_subgroup", "names no sub-group of its group")


def _group_start(value: str) -> date:
    found = day(value)
    if found is None or found[1] is not DatePrecision.DAY:
        raise CellError("unreadable_date", "has a first day that is not a date (write @yyyy-mm-dd)")
    return found[0]


def split_list(value: object) -> list[str | None] | None:
    """A cell holding several values separated by ';' (empty items kept as None, to keep the lists aligned)."""
    if value is None or not str(value).strip():
        return None
    return [item.strip() or None for item in str(value).split(";")]


# -- the row ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRow:
    """A row read and checked cell by cell: the values given (None: not given) and the line it came from."""

    line: int
    child_id: str | None
    source_key: str | None
    full_name: str
    date_of_birth: date
    date_of_birth_precision: DatePrecision
    sex: Sex
    commune_code: str
    ethnicity: str | None = None
    personal_id: str | None = None
    personal_id_mismatch_reason: str | None = None
    birth_registration: BirthRegistration | None = None
    residence_from: date | None = None
    address: str | None = None
    caregivers: tuple[NewCaregiver, ...] | None = None
    groups: tuple[GroupCell, ...] | None = None
    groups_from: date | None = None


@dataclass
class RowProblems:
    """What is wrong with a row, field by field (a row is imported whole or not at all)."""

    line: int
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (field, reason, message)

    def add(self, field_name: str, reason: str, message: str) -> None:
        self.problems.append((field_name, reason, message))


def read_row(line: int, cells: dict[str, object]) -> ChildRow | RowProblems:
    """A row's cells (by field name) read into a ChildRow, or every problem found in them."""
    problems = RowProblems(line)
    values: dict[str, Any] = {}

    def cell(name: str, reader: Callable[[object], Any]) -> Any:
        value = cells.get(name)
        if isinstance(value, str) and _SURROGATE.search(value):
            problems.add(name, "wrong_encoding", "is not UTF-8 text: save the file as CSV UTF-8 (Unicode)")
            return None
        try:
            return reader(value)
        except CellError as exc:
            problems.add(name, exc.reason, exc.message)
            return None

    values["child_id"] = cell("child_id", lambda v: text(v, max_length=100))
    values["source_key"] = cell("source_key", lambda v: text(v, max_length=200))
    values["full_name"] = cell("full_name", lambda v: required_text(v, name=True, max_length=200))
    born = cell("date_of_birth", day)
    if born is None and not any(p[0] == "date_of_birth" for p in problems.problems):
        problems.add("date_of_birth", "missing", "is required")
    values["sex"] = cell("sex", sex)
    if values["sex"] is None and not any(p[0] == "sex" for p in problems.problems):
        problems.add("sex", "missing", "is required")
    values["commune_code"] = cell("commune_code", commune_code)
    if values["commune_code"] is None and not any(p[0] == "commune_code" for p in problems.problems):
        problems.add("commune_code", "missing", "is required")
    values["ethnicity"] = cell("ethnicity", ethnicity)
    values["personal_id"] = cell("personal_id", personal_id)
    values["personal_id_mismatch_reason"] = cell("personal_id_mismatch_reason", lambda v: text(v, max_length=500))
    values["birth_registration"] = cell("birth_registration", birth_registration)
    values["residence_from"] = cell("residence_from", plain_day)
    values["address"] = cell("address", lambda v: text(v))
    values["groups"] = cell("groups", groups)
    values["groups_from"] = cell("groups_from", plain_day)
    values["caregivers"] = _caregivers(cells, problems)
    if problems.problems:
        return problems
    assert born is not None
    values["date_of_birth"], values["date_of_birth_precision"] = born
    return ChildRow(line=line, **values)


def _caregivers(cells: dict[str, object], problems: RowProblems) -> tuple[NewCaregiver, ...] | None:
    """The caregivers a row gives: its father, its mother, then the others of the caregiver lists (None: none
    given, so a stored list is left as it is)."""
    found: list[NewCaregiver] = []
    given = False
    for who in (Relation.FATHER, Relation.MOTHER):
        try:
            name = text(cells.get(f"{who.value}_name"), name=True, max_length=200)
        except CellError as exc:
            problems.add(f"{who.value}_name", exc.reason, exc.message)
            continue
        try:
            status = caregiver_status(cells.get(f"{who.value}_status"))
        except CellError as exc:
            problems.add(f"{who.value}_status", exc.reason, exc.message)
            continue
        if name is not None or status is not None:
            given = True
            found.append(NewCaregiver(who, status or CaregiverStatus.ALIVE, name))
    names = split_list(cells.get("caregiver_names")) or []
    relations = split_list(cells.get("caregiver_relations")) or []
    statuses = split_list(cells.get("caregiver_statuses")) or []
    if len(statuses) > len(relations) or len(names) > len(relations):
        problems.add("caregiver_relations", "missing", "names the relation of each caregiver listed")
        return None
    for index, raw_relation in enumerate(relations):
        try:
            kind = relation(raw_relation)
            if kind is None:
                raise CellError("missing", "names the relation of each caregiver listed")
        except CellError as exc:
            problems.add("caregiver_relations", exc.reason, exc.message)
            return None
        try:
            status = caregiver_status(statuses[index] if index < len(statuses) else None)
            name = text(names[index] if index < len(names) else None, name=True, max_length=200)
        except CellError as exc:
            problems.add("caregiver_names", exc.reason, exc.message)
            return None
        given = True
        found.append(NewCaregiver(kind, status or CaregiverStatus.ALIVE, name))
    return tuple(found) if given else None


# -- writing values ----------------------------------------------------------------------------------------------

_VI_SEX = {Sex.MALE: "Nam", Sex.FEMALE: "Nữ", Sex.UNKNOWN: "Không rõ"}
_VI_BIRTH = {BirthRegistration.REGISTERED: "Có", BirthRegistration.NOT_REGISTERED: "Không",
             BirthRegistration.UNKNOWN: "Không rõ"}  # fmt: skip
_VI_STATUS = {CaregiverStatus.ALIVE: "Còn sống", CaregiverStatus.DECEASED: "Đã mất", CaregiverStatus.MISSING:
              "Mất tích", CaregiverStatus.IMPRISONED: "Đang chấp hành án phạt tù", CaregiverStatus.IN_FACILITY:
              "Ở cơ sở trợ giúp xã hội", CaregiverStatus.INCAPABLE: "Mất năng lực hành vi dân sự"}  # fmt: skip
_VI_RELATION = {Relation.FATHER: "Cha", Relation.MOTHER: "Mẹ", Relation.RELATIVE: "Người thân thích",
                Relation.NON_RELATIVE: "Không phải người thân", Relation.GUARDIAN: "Người giám hộ",
                Relation.FACILITY: "Cơ sở trợ giúp xã hội"}  # fmt: skip
_LETTER_OF = {g.code: g.letter for g in GROUPS.values()}


def write_day(value: date, precision: DatePrecision = DatePrecision.DAY) -> str:
    """A date as the registry writes it: yyyy-mm-dd, yyyy-mm or yyyy (read back by `day`)."""
    if precision is DatePrecision.YEAR:
        return f"{value.year:04d}"
    if precision is DatePrecision.MONTH:
        return f"{value.year:04d}-{value.month:02d}"
    return value.isoformat()


_VIETNAMESE_VALUES: dict[type, dict[Any, str]] = {Sex: _VI_SEX, BirthRegistration: _VI_BIRTH,
                                                  CaregiverStatus: _VI_STATUS, Relation: _VI_RELATION}  # fmt: skip


def write_choice(value: Sex | BirthRegistration | CaregiverStatus | Relation, vietnamese: bool) -> str:
    """A choice as an officer's file writes it ('Nữ'), or as its code ('female'); both are read back."""
    return _VIETNAMESE_VALUES[type(value)][value] if vietnamese else value.value


def write_groups(spells: list[tuple[str, str | None, date]]) -> str:
    """Open groups as a cell: 'd:mild@2024-03-01; a@2023-01-01' (read back by `groups`); 'không' for none."""
    if not spells:
        return "không"
    items = []
    for code, subgroup, start in spells:
        items.append(f"{_LETTER_OF[code]}{':' + subgroup if subgroup else ''}@{start.isoformat()}")
    return "; ".join(items)


__all__ = [
    "BY_NAME",
    "COLUMNS",
    "EXPORT_COLUMNS",
    "IGNORED",
    "REPORT_COLUMNS",
    "REQUIRED",
    "CellError",
    "ChildRow",
    "Column",
    "GroupCell",
    "RowProblems",
    "column_of",
    "heading_key",
    "read_row",
    "write_choice",
    "write_day",
    "write_groups",
]
