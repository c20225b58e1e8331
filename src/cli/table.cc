#include "cli/table.h"

#include <vector>

namespace shoal::cli {

size_t rune_count(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

namespace {

struct Writer {
  std::vector<std::vector<std::string>> lines;  // cells; last cell is unterminated
  std::vector<size_t> widths;
  size_t minwidth, padding;
  std::string out;

  void write_lines(size_t line0, size_t line1) {
    for (size_t i = line0; i < line1; ++i) {
      const auto& line = lines[i];
      for (size_t j = 0; j < line.size(); ++j) {
        out += line[j];
        if (j < widths.size() && j + 1 < line.size()) {
          size_t w = rune_count(line[j]);
          if (widths[j] > w) out.append(widths[j] - w, ' ');
        }
      }
      if (i + 1 < lines.size()) out += '\n';
    }
  }

  void format(size_t line0, size_t line1) {
    size_t column = widths.size();
    for (size_t t = line0; t < line1; ++t) {
      if (column + 1 >= lines[t].size()) continue;
      write_lines(line0, t);
      line0 = t;
      size_t width = minwidth;
      for (; t < line1; ++t) {
        if (column + 1 >= lines[t].size()) break;
        size_t w = rune_count(lines[t][column]) + padding;
        if (w > width) width = w;
      }
      widths.push_back(width);
      format(line0, t);
      widths.pop_back();
      line0 = t;
      if (t >= line1) break;
    }
    write_lines(line0, line1);
  }
};

}  // namespace

std::string tabwrite(const std::string& text, size_t minwidth, size_t padding) {
  Writer w;
  w.minwidth = minwidth;
  w.padding = padding;
  std::vector<std::string> cells;
  std::string cur;
  for (char c : text) {
    if (c == '\t') {
      cells.push_back(cur);
      cur.clear();
    } else if (c == '\n') {
      cells.push_back(cur);
      cur.clear();
      w.lines.push_back(std::move(cells));
      cells.clear();
    } else {
      cur += c;
    }
  }
  cells.push_back(cur);
  w.lines.push_back(std::move(cells));
  w.format(0, w.lines.size());
  return w.out;
}

}  // namespace shoal::cli
