#include "ops/doc_site.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kamea::ops {
namespace {

std::string content_type_of(const std::filesystem::path& p) {
    auto ext = p.extension().string();
    if (ext == ".html") {
        return "text/html; charset=utf-8";
    }
    if (ext == ".js") {
        return "text/javascript; charset=utf-8";
    }
    if (ext == ".css") {
        return "text/css; charset=utf-8";
    }
    if (ext == ".json") {
        return "application/json";
    }
    if (ext == ".yaml" || ext == ".yml") {
        return "application/yaml";
    }
    if (ext == ".png") {
        return "image/png";
    }
    if (ext == ".svg") {
        return "image/svg+xml";
    }
    return "application/octet-stream";
}

} // namespace

doc_site::doc_site(const std::string& dir) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (!entry.is_regular_file()) {
            continue;
        }
        std::ifstream in(entry.path(), std::ios::binary);
        std::ostringstream body;
        body << in.rdbuf();
        files_[entry.path().filename().string()] = {content_type_of(entry.path()), body.str()};
    }
}

std::optional<const doc_file*> doc_site::find(std::string_view path) const {
    if (path == "/doc" || path == "/doc/") {
        path = "/doc/index.html";
    }
    constexpr std::string_view prefix = "/doc/";
    if (!path.starts_with(prefix)) {
        return std::nullopt;
    }
    auto name = path.substr(prefix.size());
    auto it = files_.find(name); // names are file names only: "../x" or "a/b" never match
    if (it == files_.end()) {
        return static_cast<const doc_file*>(nullptr);
    }
    return &it->second;
}

} // namespace kamea::ops
