#pragma once
// GET /doc (contract section 5): the rendered AsyncAPI page and its assets, and the document
// itself as /doc/asyncapi.yaml and /doc/asyncapi.json. The files are produced at build time by
// scripts/build-doc.sh (no CDN: the renderer comes from npm) and loaded into memory at start.

#include <map>
#include <optional>
#include <string>

namespace kamea::ops {

struct doc_file {
    std::string content_type;
    std::string body;
};

class doc_site {
public:
    // Loads every regular file of `dir` (not recursive). Missing dir: an empty site.
    explicit doc_site(const std::string& dir);

    bool empty() const { return files_.empty(); }
    std::size_t size() const { return files_.size(); }

    // `path` is the request path without the query. nullopt when it is not under /doc.
    // A known file returns it; an unknown name under /doc returns a 404 marker (empty type).
    std::optional<const doc_file*> find(std::string_view path) const;

private:
    std::map<std::string, doc_file, std::less<>> files_;
};

} // namespace kamea::ops
