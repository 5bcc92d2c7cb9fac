"""Reference tables of the children register: groups, at-risk categories, supports, ethnic groups.

Each table says where its codes come from. The groups of children in special
circumstances are law (Law on Children 2016 Art. 10(1), sub-groups in Decree
56/2017/NĐ-CP Chapter II, Section 1); the at-risk categories are not a closed
legal list and come from the plans in the seeds (../shared/domain.md section
2.1). Codes are data: a new group or category is a row here, not new code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Group:
    code: str
    letter: str  # of Art. 10(1)
    vietnamese: str
    subgroups: dict[str, str] = field(default_factory=dict)  # code -> Vietnamese
    basis: str = "Law on Children 2016 Art. 10(1)"


GROUPS: dict[str, Group] = {
    g.code: g
    for g in (
        Group("orphan_both_parents", "a", "Trẻ em mồ côi cả cha và mẹ", {
            "no_caregiver": "Không có người chăm sóc",
            "in_care_facility": "Đang được nuôi dưỡng tại cơ sở trợ giúp xã hội / cơ sở cung cấp dịch vụ bảo vệ trẻ em",
            "with_relatives": "Đang sống với người thân thích",
            "alt_care_non_relative": "Được chăm sóc thay thế bởi cá nhân, gia đình không phải người thân thích",
        }, "Law on Children 2016 Art. 10(1)(a); Decree 56/2017 Art. 3"),
        Group("abandoned", "b", "Trẻ em bị bỏ rơi", {
            "not_yet_in_alt_care": "Chưa được chăm sóc thay thế",
            "in_alt_care": "Đang được chăm sóc thay thế",
        }, "Law on Children 2016 Art. 10(1)(b); Decree 56/2017 Art. 4"),
        Group("no_one_to_rely_on", "c", "Trẻ em không nơi nương tựa", {
            "orphan_one_other_missing": "Mồ côi cha hoặc mẹ, người còn lại mất tích",
            "orphan_one_other_in_facility_or_incapable":
                "Mồ côi cha hoặc mẹ, người còn lại đang ở cơ sở trợ giúp xã hội hoặc mất năng lực hành vi dân sự",
            "orphan_one_other_imprisoned_or_compulsory_edu_rehab":
                "Mồ côi cha hoặc mẹ, người còn lại đang chấp hành án phạt tù, ở cơ sở giáo dục bắt buộc, cai nghiện",
            "both_parents_missing": "Cả cha và mẹ mất tích",
            "one_missing_other_in_facility_or_incapable":
                "Cha hoặc mẹ mất tích, người còn lại ở cơ sở trợ giúp xã hội hoặc mất năng lực hành vi dân sự",
            "other_combination": "Các trường hợp khác theo Điều 5 Nghị định 56/2017 (verify the full list)",
        }, "Law on Children 2016 Art. 10(1)(c); Decree 56/2017 Art. 5 (list partly verified)"),
        Group("disabled", "d", "Trẻ em khuyết tật", {
            "severe_special": "Khuyết tật đặc biệt nặng",
            "severe": "Khuyết tật nặng",
            "mild": "Khuyết tật nhẹ",
        }, "Law on Children 2016 Art. 10(1)(d); levels from the Law on Persons with Disabilities (verify)"),
        Group("hiv_aids", "đ", "Trẻ em nhiễm HIV/AIDS"),
        Group("in_conflict_with_law", "e", "Trẻ em vi phạm pháp luật"),
        Group("drug_addicted", "g", "Trẻ em nghiện ma túy"),
        Group("dropout_working", "h", "Trẻ em phải bỏ học kiếm sống chưa hoàn thành phổ cập giáo dục trung học cơ sở"),
        Group("serious_harm_violence", "i", "Trẻ em bị tổn hại nghiêm trọng về thể chất và tinh thần do bị bạo lực"),
        Group("exploited", "k", "Trẻ em bị bóc lột", {
            "illegal_labour": "Lao động trái quy định của pháp luật",
            "pornography": "Sản xuất sản phẩm khiêu dâm",
            "sex_tourism": "Du lịch vì mục đích xâm hại tình dục",
            "prostitution": "Cho, nhận, cung cấp trẻ em để hoạt động mại dâm",
            "other_profit": "Sử dụng trẻ em để trục lợi",
        }, "Law on Children 2016 Art. 10(1)(k) and Art. 4(7)"),
        Group("sexually_abused", "l", "Trẻ em bị xâm hại tình dục", {
            "rape": "Hiếp dâm",
            "coerced_sex": "Cưỡng dâm",
            "statutory_intercourse": "Giao cấu",
            "molestation": "Dâm ô",
            "prostitution_pornography": "Sử dụng vào mục đích mại dâm, khiêu dâm",
        }, "Law on Children 2016 Art. 10(1)(l); Decree 56/2017 (forms of sexual abuse)"),
        Group("trafficked", "m", "Trẻ em bị mua bán"),
        Group("serious_illness_poor_household", "n",
              "Trẻ em mắc bệnh hiểm nghèo hoặc bệnh phải điều trị dài ngày thuộc hộ nghèo hoặc hộ cận nghèo", {
            "poor": "Thuộc hộ nghèo",
            "near_poor": "Thuộc hộ cận nghèo",
        }),
        Group("migrant_refugee_unaccompanied", "o",
              "Trẻ em di cư, trẻ em lánh nạn, tị nạn chưa xác định được cha mẹ hoặc không có người chăm sóc"),
    )
}  # fmt: skip


class AtRiskCategory(StrEnum):
    """Trẻ em có nguy cơ rơi vào hoàn cảnh đặc biệt: the seeds' categories (not a closed legal list)."""

    AT_RISK_CISC = "at_risk_cisc"  # có nguy cơ rơi vào hoàn cảnh đặc biệt (S002, S004)
    VIOLENCE_EXPLOITATION_ABANDONMENT = "at_risk_violence_exploitation_abandonment"  # ND56 Chapter III
    ABUSE = "at_risk_abuse"  # có nguy cơ bị xâm hại (S001, S002)
    SEXUAL_ABUSE = "at_risk_sexual_abuse"  # (S004)
    OFFENDING = "at_risk_offending"  # nguy cơ vi phạm pháp luật (S002)
    CHILD_LABOUR = "at_risk_child_labour"  # lao động trẻ em, lao động sớm (S004)
    STREET_CHILD = "street_child"  # lang thang, cơ nhỡ (S004)
    SUICIDE = "at_risk_suicide"  # (S004)
    INJURY = "at_risk_injury"  # tai nạn thương tích, đuối nước (S004)
    POOR_HOUSEHOLD = "poor_household"  # nghèo, cận nghèo, hoàn cảnh khó khăn (S002, S004)
    DISASTER_AFFECTED = "disaster_affected"  # thiên tai, thảm họa (S004)


class SupportLevel(StrEnum):
    """The three levels of child protection (Law on Children 2016 Arts. 47-50)."""

    PREVENTION = "prevention"  # phòng ngừa
    SUPPORT = "support"  # hỗ trợ
    INTERVENTION = "intervention"  # can thiệp


class SupportKind(StrEnum):
    """Kinds of support the seeds and Decree 20/2021 name (domain.md section 4)."""

    MONTHLY_ALLOWANCE = "monthly_allowance"  # trợ cấp xã hội hàng tháng (Decree 20/2021)
    CASH_GIFT = "cash_gift"  # quà, tiền mặt
    SCHOLARSHIP = "scholarship"  # học bổng
    HEALTH = "health"  # khám, chữa bệnh; thẻ BHYT
    SURGERY = "surgery"  # phẫu thuật (e.g. heart surgery)
    EDUCATION = "education"  # hỗ trợ giáo dục
    LEGAL_AID = "legal_aid"  # trợ giúp pháp lý
    COUNSELLING = "counselling"  # tư vấn, tham vấn tâm lý
    ALTERNATIVE_CARE = "alternative_care"  # chăm sóc thay thế (Circular 14/2020)
    OTHER = "other"


MONEY_SUPPORTS = frozenset({SupportKind.MONTHLY_ALLOWANCE, SupportKind.CASH_GIFT, SupportKind.SCHOLARSHIP})
"""Supports given as money: their amount (whole dong) is required."""

# The 54 ethnic groups of Vietnam and their GSO codes (Danh mục các dân tộc Việt Nam, QĐ 121-TCTK/PPCĐ 1979; verify).
ETHNIC_GROUPS: dict[str, str] = {
    f"{number:02d}": name
    for number, name in enumerate(
        "Kinh, Tày, Thái, Hoa, Khơ-me, Mường, Nùng, Hmông, Dao, Gia-rai, Ngái, Ê-đê, Ba-na, Xơ-đăng, Sán Chay, "
        "Cơ-ho, Chăm, Sán Dìu, Hrê, Mnông, Ra-glai, Xtiêng, Bru-Vân Kiều, Thổ, Giáy, Cơ-tu, Gié-Triêng, Mạ, "
        "Khơ-mú, Co, Ta-ôi, Chơ-ro, Kháng, Xinh-mun, Hà Nhì, Chu-ru, Lào, La Chí, La Ha, Phù Lá, La Hủ, Lự, "
        "Lô Lô, Chứt, Mảng, Pà Thẻn, Cơ Lao, Cống, Bố Y, Si La, Pu Péo, Brâu, Ơ Đu, Rơ-măm".split(", "),
        start=1,
    )
}


__all__ = [
    "ETHNIC_GROUPS",
    "GROUPS",
    "MONEY_SUPPORTS",
    "AtRiskCategory",
    "Group",
    "SupportKind",
    "SupportLevel",
]
