// The HTML report of a real run, opened by a real headless browser (Debian's chromium, which
// `packaging/install-deps.sh --browser` installs and `make test` asks for): the page loads without a script
// error, has exactly one bar per test, and its screenshot shows the outcome colours. Skips when chromium
// is missing or cannot start here.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace mpexec {
namespace {

namespace json = boost::json;

struct Browser {
  int exit_code = -1;
  bool hung = false;
  std::string out, err;
  double seconds = 0;
};

std::string findChromium() {
  if (const char* c = getenv("CHROMIUM"); c && *c) return c;
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"})
    for (const char* name : {"chromium", "chromium-browser"})
      if (access((std::string(dir) + "/" + name).c_str(), X_OK) == 0) return std::string(dir) + "/" + name;
  return "";
}

/// Runs chromium headless on `url` with `extra` flags and a fresh profile in `profile`. Chromium runs in a
/// process group of its own, so a hang is ended by killing that group (its renderers and helpers too).
Browser runChromium(const std::string& bin, const std::string& profile, const std::string& url,
                    const std::vector<std::string>& extra, const std::string& scratch, double timeout_s = 90) {
  std::vector<std::string> argv = {bin,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-dev-shm-usage",
                                   "--user-data-dir=" + profile};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::string out_file = scratch + "/chromium.out", err_file = scratch + "/chromium.err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  Browser b;
  auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  int rc = posix_spawn(&pid, bin.c_str(), &fa, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    b.err = "cannot start " + bin + ": " + strerror(rc);
    return b;
  }
  int status = 0;
  for (;;) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::duration<double>(timeout_s)) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      b.hung = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Helpers that outlive the browser process belong to its group: end them too.
  kill(-pid, SIGKILL);
  b.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (WIFEXITED(status)) b.exit_code = WEXITSTATUS(status);
  b.out = test::readFile(out_file);
  b.err = test::readFile(err_file);
  return b;
}

/// A decoded 8-bit RGB or RGBA PNG, as RGB triples packed into integers.
struct Image {
  uint32_t width = 0, height = 0;
  std::vector<uint32_t> pixels;
  std::string error;
};

uint32_t be32(const unsigned char* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

Image decodePng(const std::string& file) {
  Image img;
  const auto* d = reinterpret_cast<const unsigned char*>(file.data());
  if (file.size() < 8 || memcmp(d, "\x89PNG\r\n\x1a\n", 8) != 0) return img.error = "not a PNG", img;
  std::string idat;
  int color_type = -1, depth = 0, interlace = 0;
  for (size_t at = 8; at + 12 <= file.size();) {
    uint32_t len = be32(d + at);
    std::string type(file, at + 4, 4);
    if (at + 12 + len > file.size()) return img.error = "truncated chunk " + type, img;
    const unsigned char* body = d + at + 8;
    if (type == "IHDR") {
      img.width = be32(body);
      img.height = be32(body + 4);
      depth = body[8];
      color_type = body[9];
      interlace = body[12];
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(body), len);
    } else if (type == "IEND") {
      break;
    }
    at += 12 + len;
  }
  if (depth != 8 || (color_type != 2 && color_type != 6) || interlace != 0)
    return img.error = "unexpected PNG format (depth " + std::to_string(depth) + ", colour type " +
                       std::to_string(color_type) + ")",
           img;
  const size_t bpp = color_type == 6 ? 4 : 3, stride = size_t(img.width) * bpp;
  std::vector<unsigned char> raw((stride + 1) * img.height);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      raw_len != raw.size())
    return img.error = "cannot inflate the image data", img;
  // Undo the per-row filters (PNG spec §9) to get the real pixel values.
  std::vector<unsigned char> prev(stride, 0), row(stride);
  img.pixels.reserve(size_t(img.width) * img.height);
  for (uint32_t y = 0; y < img.height; ++y) {
    const unsigned char* in = &raw[y * (stride + 1)];
    int filter = in[0];
    for (size_t i = 0; i < stride; ++i) {
      int a = i >= bpp ? row[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      int pred = 0;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: return img.error = "bad filter type", img;
      }
      row[i] = static_cast<unsigned char>(in[1 + i] + pred);
    }
    for (size_t x = 0; x < img.width; ++x)
      img.pixels.push_back(uint32_t(row[x * bpp]) << 16 | uint32_t(row[x * bpp + 1]) << 8 | row[x * bpp + 2]);
    prev.swap(row);
  }
  return img;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

class HtmlBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = findChromium();
    if (chromium_.empty())
      GTEST_SKIP() << "chromium is not installed (packaging/install-deps.sh --browser installs it)";
    // A real run: passing, failing, skipped and timed-out tests, an isolated group behind a barrier and a
    // serial group; names and output that need escaping.
    manifest_ = dir_.write("m.json", R"({"version": 1, "tests": [
      {"name": "db.migrate", "cmd": ["sleep", "0.3"], "group": "db", "strategy": "isolated_serial"},
      {"name": "db.query", "cmd": ["sh", "-c", "sleep 0.2; echo 'query <b>failed</b> & \"why\"'; exit 1"], "group": "db"},
      {"name": "pass.a", "cmd": ["sleep", "0.4"]},
      {"name": "pass.b", "cmd": ["sleep", "0.2"]},
      {"name": "pass.c", "cmd": ["sleep", "0.3"]},
      {"name": "skip.me", "cmd": ["sh", "-c", "sleep 0.1; exit 77"]},
      {"name": "fail.<i>odd</i> & 'name'", "cmd": ["sh", "-c", "seq 1 3000; exit 2"]},
      {"name": "serial.one", "cmd": ["sleep", "0.15"], "group": "ser", "strategy": "serial"},
      {"name": "serial.two", "cmd": ["sleep", "0.15"], "group": "ser"},
      {"name": "slow.timeout", "cmd": ["sleep", "5"], "timeout": 0.4}
    ]})");
    html_ = dir_.path() + "/report.html";
    auto r = test::runMpexec({"--no-sandbox", "-q", "-j", "3", "--html", html_, "--json", dir_.path() + "/r.json", manifest_});
    ASSERT_EQ(r.exit_code, 1) << r.out;
    ASSERT_TRUE(std::filesystem::exists(html_)) << r.out;
    report_ = test::readJson(dir_.path() + "/r.json");
    for (const auto& t : report_.at("tests").as_array()) names_.insert(std::string(t.at("name").as_string()));
    ASSERT_EQ(names_.size(), 10u);
  }

  Browser browse(const std::string& file, const std::vector<std::string>& flags) {
    std::string profile = dir_.path() + "/profile-" + std::to_string(runs_++);
    std::filesystem::create_directories(profile);
    return runChromium(chromium_, profile, "file://" + file, flags, dir_.path());
  }

  /// Skips the test when chromium cannot run here at all (no output, an error exit).
  void requireStarted(const Browser& b) {
    if (b.hung) GTEST_FAIL() << "chromium hung:\n" << b.err.substr(0, 4000);
    if (b.out.empty() && b.exit_code != 0)
      GTEST_SKIP() << "chromium cannot start here (exit " << b.exit_code << "): " << b.err.substr(0, 2000);
  }

  test::TempDir dir_;
  std::string chromium_, manifest_, html_;
  json::object report_;
  std::set<std::string> names_;
  int runs_ = 0;
};

std::string unescape(std::string s) {
  static const std::pair<const char*, const char*> kEntities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}};
  for (auto [from, to] : kEntities)
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + strlen(to))) s.replace(at, strlen(from), to);
  return s;
}

TEST_F(HtmlBrowserTest, LoadsWithoutErrorsWithOneBarPerTest) {
  Browser b = browse(html_, {"--dump-dom", "--enable-logging=stderr", "--v=0"});
  requireStarted(b);
  std::cout << "[ info ] chromium loaded and dumped the report in " << b.seconds << " s\n";
  const std::string& dom = b.out;
  ASSERT_NE(dom.find("id=\"timeline\""), std::string::npos) << dom.substr(0, 2000);

  // The scripts ran to the end, and none threw.
  EXPECT_NE(dom.find("data-js=\"ready\""), std::string::npos) << "the page script did not finish";
  EXPECT_NE(dom.find("data-js-errors=\"0\""), std::string::npos) << "script errors: " << dom.substr(0, 400);
  std::regex console_error(R"(CONSOLE.*(Uncaught|Error))");
  std::smatch m;
  EXPECT_FALSE(std::regex_search(b.err, m, console_error)) << m.str();

  // Exactly one bar per test, named after it (the DOM serializer re-escapes the attribute).
  std::regex bar(R"re(<rect class="bar [^"]*"[^>]*data-test="([^"]*)")re");
  std::multiset<std::string> bars;
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), bar); it != std::sregex_iterator(); ++it)
    bars.insert(unescape((*it)[1]));
  EXPECT_EQ(bars.size(), names_.size());
  EXPECT_EQ(std::set<std::string>(bars.begin(), bars.end()), names_);
  EXPECT_NE(dom.find("data-bars=\"10\""), std::string::npos);
  // Escaped text stayed text: no element came out of a test's name or output.
  EXPECT_EQ(count(dom, "<i>odd</i>"), 0u);
  EXPECT_EQ(count(dom, "<b>failed</b>"), 0u);
  EXPECT_NE(dom.find("query &lt;b&gt;failed&lt;/b&gt;"), std::string::npos);
  // The isolated window is shaded, and the failures are listed with the tail of their logs.
  EXPECT_EQ(count(dom, "<rect class=\"win\""), 1u);
  EXPECT_NE(dom.find("\n3000\n"), std::string::npos);
}

TEST_F(HtmlBrowserTest, ErrorMarkerCatchesAScriptError) {
  // The check above can fail: the same page with a throwing script reports it in the DOM.
  std::string page = test::readFile(html_);
  size_t end = page.rfind("</body>");
  ASSERT_NE(end, std::string::npos);
  page.insert(end, "<script>throw new Error('planted');</script>");
  std::string broken = dir_.write("broken.html", page);
  Browser b = browse(broken, {"--dump-dom"});
  requireStarted(b);
  EXPECT_NE(b.out.find("data-js-errors=\"1\""), std::string::npos) << b.out.substr(0, 400);
  EXPECT_NE(b.out.find("planted"), std::string::npos);
}

TEST_F(HtmlBrowserTest, ScreenshotShowsTheTimeline) {
  std::string png = dir_.path() + "/shot.png";
  Browser b = browse(html_, {"--screenshot=" + png, "--window-size=1280,900", "--hide-scrollbars"});
  if (b.hung) GTEST_FAIL() << "chromium hung:\n" << b.err.substr(0, 4000);
  if (!std::filesystem::exists(png)) GTEST_SKIP() << "chromium wrote no screenshot here: " << b.err.substr(0, 2000);
  std::cout << "[ info ] screenshot taken in " << b.seconds << " s: " << png << "\n";
  if (const char* keep = getenv("MPEXEC_KEEP_SCREENSHOT"); keep && *keep) std::filesystem::copy_file(
      png, keep, std::filesystem::copy_options::overwrite_existing);
  Image img = decodePng(test::readFile(png));
  ASSERT_TRUE(img.error.empty()) << img.error;
  EXPECT_EQ(img.width, 1280u);
  EXPECT_EQ(img.height, 900u);
  std::map<uint32_t, size_t> colours;
  for (uint32_t p : img.pixels) ++colours[p];
  EXPECT_GT(colours.size(), 20u) << "a blank or near-blank page";
  // The outcome colours of the style sheet are on screen: bars and chips were drawn.
  for (auto [name, rgb] : {std::pair{"PASS", 0x2da44eu}, {"FAIL", 0xcf222eu}, {"TIMEOUT", 0x8250dfu}})
    EXPECT_GT(colours[rgb], 200u) << name << " colour is missing from the screenshot";
}

}  // namespace
}  // namespace mpexec
