#include "lowbit/core/tensor.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "lowbit/core/error.hpp"

namespace lowbit {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    LOWBIT_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

namespace detail {
void* aligned_alloc_bytes(size_t bytes) {
  size_t rounded = (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  void* p = std::aligned_alloc(kTensorAlignment, std::max<size_t>(rounded, kTensorAlignment));
  if (!p) fail("out of memory allocating ", bytes, " bytes for a tensor");
  return p;
}
void AlignedFree::operator()(void* p) const noexcept { std::free(p); }
}  // namespace detail

template <class T>
TensorT<T>::TensorT(Shape shape, std::initializer_list<T> values) {
  resize(std::move(shape));
  LOWBIT_CHECK(static_cast<int64_t>(values.size()) == size_, "tensor of shape ", shape_str(shape_),
               " given ", values.size(), " values");
  std::copy(values.begin(), values.end(), data());
}

template <class T>
TensorT<T>& TensorT<T>::operator=(const TensorT& other) {
  if (this == &other) return *this;
  resize(other.shape_);
  if (size_) std::memcpy(data(), other.data(), sizeof(T) * static_cast<size_t>(size_));
  return *this;
}

template <class T>
void TensorT<T>::resize(Shape shape) {
  int64_t n = shape_numel(shape);
  if (n > capacity_) {
    data_.reset(static_cast<T*>(detail::aligned_alloc_bytes(sizeof(T) * static_cast<size_t>(n))));
    capacity_ = n;
  }
  shape_ = std::move(shape);
  size_ = n;
}

template <class T>
void TensorT<T>::reshape(Shape shape) {
  LOWBIT_CHECK(shape_numel(shape) == size_, "cannot reshape ", shape_str(shape_), " to ",
               shape_str(shape));
  shape_ = std::move(shape);
}

template <class T>
void TensorT<T>::fill(T value) {
  std::fill(data(), data() + size_, value);
}

template class TensorT<float>;
template class TensorT<double>;
template class TensorT<int32_t>;
template class TensorT<uint8_t>;

}  // namespace lowbit
