// Tensor: a shape plus 64-byte-aligned contiguous storage, row-major (NCHW for images).
// Deliberately simple: no views, no strides, no autograd. Layers own their tensors and
// reuse them between batches (resize() keeps capacity), so hot loops never allocate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace lowbit {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[100, 1, 28, 28]"

inline constexpr size_t kTensorAlignment = 64;

namespace detail {
void* aligned_alloc_bytes(size_t bytes);  // throws lowbit::Error on failure
struct AlignedFree {
  void operator()(void* p) const noexcept;
};
}  // namespace detail

template <class T>
class TensorT {
 public:
  TensorT() = default;
  explicit TensorT(Shape shape) { resize(std::move(shape)); }
  TensorT(Shape shape, T value) {
    resize(std::move(shape));
    fill(value);
  }
  TensorT(Shape shape, std::initializer_list<T> values);

  TensorT(const TensorT& other) { *this = other; }
  TensorT& operator=(const TensorT& other);
  TensorT(TensorT&&) noexcept = default;
  TensorT& operator=(TensorT&&) noexcept = default;

  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i < 0 ? i + rank() : i)); }
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T& operator[](int64_t i) { return data_.get()[i]; }
  const T& operator[](int64_t i) const { return data_.get()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }

  // Change the shape; reallocates only when the capacity is too small. Contents are
  // unspecified after growing (callers overwrite or call zero()).
  void resize(Shape shape);
  // Same element count, new shape; throws on a count mismatch.
  void reshape(Shape shape);
  void fill(T value);
  void zero() { fill(T(0)); }

 private:
  Shape shape_;
  int64_t size_ = 0;
  int64_t capacity_ = 0;
  std::unique_ptr<T, detail::AlignedFree> data_;
};

using Tensor = TensorT<float>;
using TensorI32 = TensorT<int32_t>;
using TensorU8 = TensorT<uint8_t>;

extern template class TensorT<float>;
extern template class TensorT<double>;
extern template class TensorT<int32_t>;
extern template class TensorT<uint8_t>;

}  // namespace lowbit
