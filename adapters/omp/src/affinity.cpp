// affinity.cpp: thread affinity as OpenMP sees it: places, the affinity
// format (affinity-format-var, OMP_AFFINITY_FORMAT), omp_display_affinity
// / omp_capture_affinity (and libomp's ompc_* names for them, which
// clang's omp.h uses) and OMP_DISPLAY_AFFINITY.
//
// Places: lithe, not OpenMP, decides where harts run, and a member context
// runs on whichever hart its scheduler gives it; OMP_PLACES and
// OMP_PROC_BIND are ignored, so there are no places: omp_get_num_places()
// is 0, omp_get_place_num() -1 (not bound), proc_bind false (libgomp's
// answers without OMP_PLACES).
// The format is one global string guarded by a Spin (any thread may set
// or read it). Default: libgomp's "level %L thread %i affinity %A".
// Output: omp_display_affinity (the name gcc programs call) writes to
// stderr, as libgomp; ompc_display_affinity (what clang's omp.h maps the
// call to) and the OMP_DISPLAY_AFFINITY lines write to stdout, as libomp
// (LLVM's tests read them there).
#include <sched.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "internal.hpp"

extern "C" int omp_get_ancestor_thread_num(int level);

namespace lomp {
namespace {

struct Format {
    Spin lock;
    std::string text;
    Format() {
        const char *v = getenv("OMP_AFFINITY_FORMAT");
        text = v ? v : "level %L thread %i affinity %A";
    }
};
Format &format_var() {
    static Format f;
    return f;
}
std::string current_format() {
    Format &f = format_var();
    f.lock.lock();
    std::string s = f.text;
    f.lock.unlock();
    return s;
}

// The CPUs the calling context may run on now, as "0-3,6".
std::string cpu_list() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return "";
    std::string out;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (!CPU_ISSET(c, &set)) continue;
        int e = c;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set)) ++e;
        if (!out.empty()) out += ',';
        out += std::to_string(c);
        if (e > c) out += '-' + std::to_string(e);
        c = e;
    }
    return out;
}

// One field's value, by its short name; false if unknown.
bool field(char type, std::string *v) {
    Member *m = self();
    switch (type) {
    case 't': *v = std::to_string(m->icv.team_num); return true;
    case 'T': *v = std::to_string(m->icv.num_teams > 0 ? m->icv.num_teams : 1); return true;
    case 'L': *v = std::to_string(m->level); return true;
    case 'n': *v = std::to_string(m->tid); return true;
    case 'N': *v = std::to_string(m->team->n); return true;
    case 'a': *v = std::to_string(omp_get_ancestor_thread_num(m->level - 1)); return true;
    case 'H': {
        char h[256] = "";
        gethostname(h, sizeof h - 1);
        *v = h;
        return true;
    }
    case 'P': *v = std::to_string(getpid()); return true;
    case 'i': *v = std::to_string(syscall(SYS_gettid)); return true;
    case 'A': *v = cpu_list(); return true;
    default: return false;
    }
}

char long_name(const std::string &n) {
    static const struct {
        const char *name;
        char type;
    } names[] = {{"team_num", 't'}, {"num_teams", 'T'},
                 {"nesting_level", 'L'}, {"thread_num", 'n'},
                 {"num_threads", 'N'}, {"ancestor_tnum", 'a'},
                 {"host", 'H'}, {"process_id", 'P'},
                 {"native_thread_id", 'i'}, {"thread_affinity", 'A'}};
    for (auto &e : names)
        if (n == e.name) return e.type;
    return 0;
}

// Expands `fmt`: %[0][.][width]type or %[0][.][width]{name}; '0' pads
// with zeros, '.' right-justifies (default: left), %% is '%'. An unknown
// field expands to "undefined" (as libomp; libgomp stops the program).
std::string expand(const std::string &fmt) {
    std::string out;
    for (size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] != '%') {
            out += fmt[i];
            continue;
        }
        ++i;
        if (i < fmt.size() && fmt[i] == '%') {
            out += '%';
            continue;
        }
        bool zero = false, right = false;
        if (i < fmt.size() && fmt[i] == '0') zero = true, ++i;
        if (i < fmt.size() && fmt[i] == '.') right = true, ++i;
        size_t width = 0;
        while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9')
            width = width * 10 + static_cast<size_t>(fmt[i++] - '0');
        char type = 0;
        size_t end = i;
        if (i < fmt.size() && fmt[i] == '{') {
            end = fmt.find('}', i);
            if (end != std::string::npos)
                type = long_name(fmt.substr(i + 1, end - i - 1));
        } else if (i < fmt.size()) {
            type = fmt[i];
        }
        std::string v;
        if (end == std::string::npos) {
            out += "undefined";
            break;
        }
        i = end;
        if (!field(type, &v)) v = "undefined";
        if (v.size() < width) {
            bool zeros = zero && right;
            std::string pad(width - v.size(), zeros ? '0' : ' ');
            if (zeros && v[0] == '-')  // as printf's %0*d: sign first
                v = '-' + pad + v.substr(1);
            else
                v = right ? pad + v : v + pad;
        }
        out += v;
    }
    return out;
}

size_t copy_out(const std::string &s, char *buf, size_t size) {
    if (buf && size > 0) {
        size_t n = s.size() < size - 1 ? s.size() : size - 1;
        memcpy(buf, s.data(), n);
        buf[n] = 0;
    }
    return s.size();
}

void display(const char *fmt, FILE *out) {
    std::string line =
        expand(fmt && *fmt ? std::string(fmt) : current_format()) + "\n";
    fwrite(line.data(), 1, line.size(), out);
    fflush(out);
}

bool display_affinity_on() {
    static const bool on = [] {
        const char *v = getenv("OMP_DISPLAY_AFFINITY");
        return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
    }();
    return on;
}

}  // namespace

// The (level, tid, team size) this context last displayed.
void display_affinity_hook() {
    if (!display_affinity_on()) return;
    thread_local int last_level = -1, last_tid = -1, last_n = -1;
    Member *m = self();
    if (m->level == last_level && m->tid == last_tid && m->team->n == last_n)
        return;
    last_level = m->level;
    last_tid = m->tid;
    last_n = m->team->n;
    display(nullptr, stdout);
}

}  // namespace lomp

using namespace lomp;

OMP_API void omp_set_affinity_format(const char *fmt) {
    Format &f = format_var();
    std::string s = fmt ? fmt : "";
    f.lock.lock();
    f.text.swap(s);
    f.lock.unlock();
}
OMP_API size_t omp_get_affinity_format(char *buf, size_t size) {
    return copy_out(current_format(), buf, size);
}
OMP_API void omp_display_affinity(const char *fmt) { display(fmt, stderr); }
OMP_API size_t omp_capture_affinity(char *buf, size_t size, const char *fmt) {
    return copy_out(expand(fmt && *fmt ? std::string(fmt) : current_format()),
                    buf, size);
}
OMP_API void ompc_set_affinity_format(const char *fmt) {
    omp_set_affinity_format(fmt);
}
OMP_API size_t ompc_get_affinity_format(char *buf, size_t size) {
    return omp_get_affinity_format(buf, size);
}
OMP_API void ompc_display_affinity(const char *fmt) { display(fmt, stdout); }
OMP_API size_t ompc_capture_affinity(char *buf, size_t size, const char *fmt) {
    return omp_capture_affinity(buf, size, fmt);
}

OMP_API int omp_get_proc_bind(void) { return 0; }  // omp_proc_bind_false
OMP_API int omp_get_num_places(void) { return 0; }
OMP_API int omp_get_place_num_procs(int) { return 0; }
OMP_API void omp_get_place_proc_ids(int, int *) {}
OMP_API int omp_get_place_num(void) { return -1; }
OMP_API int omp_get_partition_num_places(void) { return 0; }
OMP_API void omp_get_partition_place_nums(int *) {}
