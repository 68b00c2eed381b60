// iov_rest.hpp: what is left of an iovec array after the first `done`
// bytes moved, for the vectored calls that go on after a partial transfer
// (writev, pwritev, sendmsg, recvmsg with MSG_WAITALL: vec_io.cpp,
// msg_io.cpp).
//
// The caller's array is never written: the rest is a copy (made only after
// a partial transfer, so calls that complete at once allocate nothing).
// The array is read only after the kernel accepted it (a bad pointer stays
// the kernel's EFAULT). Runs in the calling context; owns only the copy.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lithe_pthread {

class IovRest {
  public:
    IovRest(const struct iovec *iov, size_t cnt) : iov_(iov), cnt_(cnt) {}

    struct Part {
        const struct iovec *iov;
        size_t cnt;
    };
    // The entries after the first `done` bytes (the first one shortened);
    // the caller's own array while done is 0.
    Part after(size_t done) {
        if (done == 0) return {iov_, cnt_};
        size_t i = 0;
        while (i < cnt_ && done >= iov_[i].iov_len) done -= iov_[i++].iov_len;
        rest_.assign(iov_ + i, iov_ + cnt_);
        if (!rest_.empty()) {
            rest_[0].iov_base = static_cast<char *>(rest_[0].iov_base) + done;
            rest_[0].iov_len -= done;
        }
        return {rest_.data(), rest_.size()};
    }

    // The sum of the lengths (saturating; the kernel refuses more than
    // SSIZE_MAX anyway).
    size_t total() const {
        size_t t = 0;
        for (size_t i = 0; i < cnt_; ++i)
            t = iov_[i].iov_len > SIZE_MAX - t ? SIZE_MAX : t + iov_[i].iov_len;
        return t;
    }

  private:
    const struct iovec *iov_;
    size_t cnt_;
    std::vector<struct iovec> rest_;
};

}  // namespace lithe_pthread
