#include "data_dir.h"

#include <algorithm>
#include <map>

#include "log/file_names.h"

namespace tldb::admin {

const NamespaceRef* StoreLayout::Find(std::string_view ns) const {
  for (const auto& n : namespaces) {
    if (n.name == ns) return &n;
  }
  return nullptr;
}

uint64_t StoreLayout::SegmentCount() const {
  uint64_t n = 0;
  for (const auto& ns : namespaces) n += ns.segments.size();
  return n;
}

Status ListNamespaceDir(FileSystem& fs, NamespaceRef* ns) {
  TLDB_ASSIGN_OR_RETURN(NamespaceFiles listing, ListNamespaceFiles(fs, ns->dir));
  for (const auto& name : listing.temp_names) ns->temp_files.push_back(ns->dir + "/" + name);
  for (const auto& name : listing.stale_names) ns->stale_files.push_back(ns->dir + "/" + name);
  ns->compact_commit = listing.compact_commit;
  for (const auto& [id, has] : listing.by_id) {
    if (!has.segment) {
      ns->orphan_indexes.push_back(IndexFileName(ns->dir, id, has.gen));
      continue;
    }
    SegmentRef s;
    s.id = id;
    s.gen = has.gen;
    s.path = SegmentFileName(ns->dir, id, has.gen);
    s.index_path = IndexFileName(ns->dir, id, has.gen);
    s.has_index = has.index;
    TLDB_ASSIGN_OR_RETURN(s.bytes, fs.FileSize(s.path));
    if (s.has_index) {
      TLDB_ASSIGN_OR_RETURN(s.index_bytes, fs.FileSize(s.index_path));
    }
    ns->segments.push_back(std::move(s));
  }
  if (!ns->segments.empty() && !ns->segments.back().has_index && ns->segments.back().gen == 0) {
    ns->segments.back().active = true;
  }
  TLDB_ASSIGN_OR_RETURN(ns->has_floors, fs.Exists(FloorsFileName(ns->dir)));
  if (ns->has_floors) {
    TLDB_ASSIGN_OR_RETURN(std::string bytes, fs.ReadFileToString(FloorsFileName(ns->dir)));
    auto floors = DecodeFloors(bytes, FloorsFileName(ns->dir));
    if (floors.ok()) {
      ns->floors = std::move(floors).value();
    } else {
      ns->floors_status = floors.status();
    }
  }
  return Status::Ok();
}

Result<StoreLayout> ReadStoreLayout(FileSystem& fs, const std::string& dir) {
  StoreLayout layout;
  layout.dir = dir;
  TLDB_ASSIGN_OR_RETURN(bool has_catalog, fs.Exists(CatalogFileName(dir)));
  if (!has_catalog) {
    return Status::InvalidArgument(dir + " is not a tldb data directory (no CATALOG file)");
  }
  auto bytes = fs.ReadFileToString(CatalogFileName(dir));
  if (!bytes.ok()) return bytes.status();
  auto catalog = DecodeCatalog(*bytes, CatalogFileName(dir));
  if (catalog.ok()) {
    layout.catalog = std::move(catalog).value();
  } else {
    layout.catalog_status = catalog.status();
  }
  for (const auto& e : layout.catalog) {
    NamespaceRef ns;
    ns.name = e.name;
    ns.dir = NamespaceDirName(dir, e.name);
    ns.in_catalog = true;
    ns.entry = e;
    layout.namespaces.push_back(std::move(ns));
  }
  std::vector<std::string> dirs;
  TLDB_ASSIGN_OR_RETURN(bool has_ns, fs.Exists(NamespacesDirName(dir)));
  if (has_ns) {
    TLDB_ASSIGN_OR_RETURN(dirs, fs.ListDir(NamespacesDirName(dir)));
  }
  std::sort(dirs.begin(), dirs.end());
  for (const auto& name : dirs) {
    if (layout.Find(name) != nullptr) continue;
    NamespaceRef ns;
    ns.name = name;
    ns.dir = NamespaceDirName(dir, name);
    layout.namespaces.push_back(std::move(ns));
  }
  for (auto& ns : layout.namespaces) {
    TLDB_ASSIGN_OR_RETURN(bool exists, fs.Exists(ns.dir));
    if (exists) TLDB_RETURN_IF_ERROR(ListNamespaceDir(fs, &ns));
  }
  return layout;
}

}  // namespace tldb::admin

namespace tldb::admin {
bool IsSegmentPath(const std::string& path, uint64_t* id, uint32_t* gen) {
  const size_t slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  uint32_t g = 0;
  const bool seg = ParseFileName(name, id, &g) == FileKind::kSegment;
  if (gen != nullptr) *gen = g;
  return seg;
}
}  // namespace tldb::admin
