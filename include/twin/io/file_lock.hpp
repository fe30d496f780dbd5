#pragma once
// An exclusive advisory lock (flock) on a file, held for the object's lifetime: for a
// read-modify-write of a file that several processes may update at once.
//
//   const twin::io::FileLock lock("store.json.lock", 60);  // waits at most 60 s
//
// The lock file is created when missing and stays afterwards (removing it would let two
// processes lock two different files of one name). POSIX only. Errors are twin::io_error
// naming the lock file: cannot open or lock it, or another process held it too long.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "twin/error.hpp"

namespace twin::io {

class FileLock {
 public:
  FileLock(const std::filesystem::path& path, double wait_seconds) {
    auto fail = [&](const std::string& why) { throw io_error(path.string() + ": " + why); };
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(std::string("cannot open the lock file: ") + std::strerror(errno));
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        const int err = errno;
        ::close(fd_);
        fail(std::string("cannot lock: ") + std::strerror(err));
      }
      if (std::chrono::steady_clock::now() > until) {
        ::close(fd_);
        fail(twin::detail::concat("another process has held the lock for ", wait_seconds, " s"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace twin::io
