"""Care zones: GeoJSON validation and repair, storage and point matching in PostGIS."""
