// Go text/tabwriter-compatible column alignment, configured like the docker
// CLI (minwidth 10, tabwidth 1, padding 3, pad with spaces). Cells are
// separated by '\t'; the text after a line's last tab is not aligned.
#pragma once

#include <string>

namespace shoal::cli {

// Aligns tab-separated text exactly as Go's tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
// followed by Flush() would.
std::string tabwrite(const std::string& text, size_t minwidth = 10, size_t padding = 3);

// Width of a UTF-8 string in runes (as tabwriter counts it).
size_t rune_count(const std::string& s);

}  // namespace shoal::cli
