"""Made-up demo data modelled on Tha Khantho municipality (Kalasin).

Village zones are a Voronoi tessellation of village centres clipped to a
municipal boundary, so neighbouring zones share borders as real ones do. All
names are invented for the demo; a fixed seed makes every run the same.
"""

import random
from dataclasses import dataclass

import shapely
from shapely import affinity
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, mapping

from dispatch.enums import ResponderKind

CENTRE = (103.26, 16.88)  # lon, lat
ORG_CODE = "thakhantho"
ORG_NAME = "เทศบาลตำบลท่าคันโท (demo)"

VILLAGES = [
    ("บ้านท่าคันโท หมู่ 1", (103.257, 16.884)),
    ("บ้านท่าคันโท หมู่ 2", (103.266, 16.879)),
    ("บ้านโนนสว่าง", (103.243, 16.897)),
    ("บ้านหนองแวง", (103.282, 16.895)),
    ("บ้านนาบอน", (103.236, 16.872)),
    ("บ้านโคกกลาง", (103.279, 16.862)),
    ("บ้านดงบัง", (103.255, 16.858)),
    ("บ้านคุ้มวัด", (103.262, 16.905)),
]

GIVEN = [
    "สมศรี",
    "บุญมี",
    "คำปุ่น",
    "ทองใบ",
    "สมบัติ",
    "บัวผัน",
    "ประยูร",
    "หนูเพียร",
    "สุข",
    "คำมี",
    "จันทร์",
    "แก้ว",
    "บุญเรือง",
    "สงวน",
    "เพ็ง",
    "ทองดี",
    "บัวลา",
    "สมัย",
]
FAMILY = ["ศรีสุข", "พลเยี่ยม", "ภูมิพันธ์", "แก้วกาญจน์", "บุญมา", "ทองคำ", "สายสุด", "คำภา"]
CONDITIONS = [
    "ความดันโลหิตสูง",
    "เบาหวาน",
    "โรคหลอดเลือดสมอง (เคยเป็น)",
    "สมองเสื่อม",
    "โรคหัวใจ",
    "ข้อเข่าเสื่อม",
    "ไตวายเรื้อรัง",
]
MEDICATIONS = ["Amlodipine 5 mg", "Metformin 500 mg", "Aspirin 81 mg", "Simvastatin 20 mg"]
ALLERGIES = ["Penicillin", "Sulfa", "อาหารทะเล"]
BLOOD = ["A+", "B+", "O+", "AB+"]


@dataclass(frozen=True)
class DemoZone:
    name: str
    geometry: MultiPolygon

    def feature(self) -> dict[str, object]:
        return {
            "type": "Feature",
            "properties": {"name": self.name, "kind": "village"},
            "geometry": mapping(self.geometry),
        }


@dataclass(frozen=True)
class DemoElder:
    name: str
    zone: str
    lat: float
    lon: float
    dependency_group: int
    conditions: list[str]
    medications: list[str]
    allergies: list[str]
    blood_type: str
    contact_name: str
    contact_phone: str


@dataclass(frozen=True)
class DemoResponder:
    name: str
    email: str
    phone: str
    kind: ResponderKind
    skills: list[str]
    zones: list[str]
    lat: float
    lon: float


def municipality() -> Polygon:
    # A rough oval ~7 km across, the size of the municipality's built-up area.
    circle = Point(CENTRE).buffer(0.032, quad_segs=16)
    return affinity.scale(circle, xfact=1.2, yfact=1.0)


def zones() -> list[DemoZone]:
    boundary = municipality()
    centres = MultiPoint([xy for _, xy in VILLAGES])
    cells = shapely.voronoi_polygons(centres, extend_to=boundary)
    result = []
    for name, xy in VILLAGES:
        cell = next(c for c in cells.geoms if c.contains(Point(xy)))
        clipped = shapely.set_precision(cell.intersection(boundary), 1e-7)
        result.append(DemoZone(name, MultiPolygon([clipped])))
    return result


def _point_in(rng: random.Random, polygon: MultiPolygon) -> tuple[float, float]:
    minx, miny, maxx, maxy = polygon.bounds
    while True:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if polygon.contains(Point(x, y)):
            return round(y, 6), round(x, 6)


def elders(zone_list: list[DemoZone], count: int = 36) -> list[DemoElder]:
    rng = random.Random(1669)
    result = []
    for i in range(count):
        zone = zone_list[i % len(zone_list)]
        lat, lon = _point_in(rng, zone.geometry)
        prefix = rng.choice(["ยาย", "ตา"])
        family = rng.choice(FAMILY)
        result.append(
            DemoElder(
                name=f"{prefix}{rng.choice(GIVEN)} {family}",
                zone=zone.name,
                lat=lat,
                lon=lon,
                dependency_group=rng.choice([1, 2, 2, 3]),
                conditions=rng.sample(CONDITIONS, rng.randint(1, 3)),
                medications=rng.sample(MEDICATIONS, rng.randint(0, 2)),
                allergies=rng.sample(ALLERGIES, rng.randint(0, 1)),
                blood_type=rng.choice(BLOOD),
                contact_name=f"{rng.choice(GIVEN)} {family}",
                contact_phone=f"08{rng.randint(10_000_000, 99_999_999)}",
            )
        )
    return result


RESPONDER_PLAN = [
    (ResponderKind.CAREGIVER, "cg", 5, ["first_aid", "elderly_care"]),
    (ResponderKind.VOLUNTEER, "osm", 4, ["first_aid"]),
    (ResponderKind.CARE_MANAGER, "cm", 2, ["elderly_care", "nursing"]),
    (ResponderKind.RESCUE, "rescue", 1, ["cpr", "aed", "ambulance"]),
]


def responders(zone_list: list[DemoZone]) -> list[DemoResponder]:
    rng = random.Random(1225)
    result = []
    n = 0
    for kind, prefix, count, skills in RESPONDER_PLAN:
        for i in range(1, count + 1):
            home_zone = zone_list[n % len(zone_list)]
            extra = zone_list[(n + 3) % len(zone_list)]
            lat, lon = _point_in(rng, home_zone.geometry)
            # The rescue unit covers every zone; others their village and one more.
            team = (
                [z.name for z in zone_list]
                if kind is ResponderKind.RESCUE
                else [home_zone.name, extra.name]
            )
            result.append(
                DemoResponder(
                    name=f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
                    email=f"{prefix}{i}@{ORG_CODE}.demo",
                    phone=f"09{rng.randint(10_000_000, 99_999_999)}",
                    kind=kind,
                    skills=skills,
                    zones=team,
                    lat=lat,
                    lon=lon,
                )
            )
            n += 1
    return result
