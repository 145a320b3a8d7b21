#include "io/file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/error.hpp"

namespace vktrain::io {

MappedFile::MappedFile(const std::string& path, const char* format) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("[{}] cannot open {}: {}", format, path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("[{}] {} is not a regular file", format, path);
  }
  size_ = size_t(st.st_size);
  if (size_ == 0) {  // mmap refuses empty files; an empty span serves the readers' checks
    ::close(fd);
    return;
  }
  void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail("[{}] cannot map {}: {}", format, path, std::strerror(errno));
  data_ = static_cast<const std::byte*>(map);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

void write_file_atomically(const std::string& path, const char* format,
                           const std::function<void(std::ofstream&)>& write) {
  const std::string temporary = path + ".tmp";
  try {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) fail("[{}] cannot write {}: {}", format, temporary, std::strerror(errno));
    write(out);
    out.close();
    if (!out) fail("[{}] writing {} failed (disk full?)", format, path);
    std::error_code ec;
    std::filesystem::rename(temporary, path, ec);
    if (ec) fail("[{}] cannot move {} into place: {}", format, path, ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
}

}  // namespace vktrain::io
