//! A GGUF reader that treats the file as untrusted input.
//!
//! candle has a GGUF reader, but a model file is something a user downloaded from
//! anywhere: a crafted header must give an error, never a panic (candle divides by a
//! zero `general.alignment`; a shape whose product overflows wraps) or an allocation the
//! file cannot back. This reader maps the file and checks every length, count, shape and
//! offset against the bytes that are really there before anything is allocated. Tensor
//! bytes go to candle's own `qtensor_from_ggml` (see `weights.rs`), so the quantized
//! formats and their kernels are candle's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};

use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
const MAX_DIMS: u32 = 4;
const MAX_VALUE_DEPTH: usize = 4;
/// No real model has more elements in one tensor (2^40 ≈ 10^12).
const MAX_TENSOR_ELEMS: u64 = 1 << 40;

/// Where one tensor's bytes are and how to read them.
#[derive(Clone, Debug)]
pub struct GgufTensorInfo {
    /// The quantization format.
    pub dtype: GgmlDType,
    /// Row-major dimensions (GGUF stores them innermost first; these are reversed).
    pub shape: Vec<usize>,
    /// Byte range of the data inside the file.
    pub range: std::ops::Range<usize>,
}

/// An opened, validated GGUF file.
pub struct GgufFile {
    path: PathBuf,
    map: memmap2::Mmap,
    /// Key/value metadata (`general.architecture`, `llama.block_count`, the tokenizer…).
    pub metadata: HashMap<String, Value>,
    /// Tensor infos by name.
    pub tensors: HashMap<String, GgufTensorInfo>,
}

impl GgufFile {
    /// Maps and validates `path`. Nothing but the header is read.
    pub fn open(path: &Path) -> Result<GgufFile> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only, and hearth never writes model files. A file
        // truncated underneath a running process is the one case a map cannot guard.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let (metadata, tensors) = parse(&map).map_err(|m| Error::model(path, m))?;
        Ok(GgufFile { path: path.to_path_buf(), map, metadata, tensors })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A metadata value, or an error naming the missing key.
    pub fn value(&self, key: &str) -> Result<&Value> {
        self.metadata.get(key).ok_or_else(|| Error::model(&self.path, format!("metadata key `{key}` is missing")))
    }

    /// A string metadata value.
    pub fn string(&self, key: &str) -> Result<&str> {
        match self.value(key)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// An unsigned integer metadata value, whatever width the writer chose.
    pub fn integer(&self, key: &str) -> Result<u64> {
        let v = self.value(key)?;
        let n = match *v {
            Value::U8(n) => Some(n as u64),
            Value::U16(n) => Some(n as u64),
            Value::U32(n) => Some(n as u64),
            Value::U64(n) => Some(n),
            Value::I8(n) => u64::try_from(n).ok(),
            Value::I16(n) => u64::try_from(n).ok(),
            Value::I32(n) => u64::try_from(n).ok(),
            Value::I64(n) => u64::try_from(n).ok(),
            _ => None,
        };
        n.ok_or_else(|| self.wrong_type(key, "a non-negative integer", v))
    }

    /// A float metadata value.
    pub fn float(&self, key: &str) -> Result<f64> {
        match *self.value(key)? {
            Value::F32(x) => Ok(x as f64),
            Value::F64(x) => Ok(x),
            ref other => Err(self.wrong_type(key, "a float", other)),
        }
    }

    /// An array metadata value.
    pub fn array(&self, key: &str) -> Result<&[Value]> {
        match self.value(key)? {
            Value::Array(items) => Ok(items),
            other => Err(self.wrong_type(key, "an array", other)),
        }
    }

    fn wrong_type(&self, key: &str, wanted: &str, got: &Value) -> Error {
        Error::model(&self.path, format!("metadata key `{key}` should be {wanted}, found {:?}", got.value_type()))
    }

    /// The raw bytes of a tensor, checked at open to lie inside the file.
    pub fn tensor_bytes(&self, name: &str) -> Result<(&GgufTensorInfo, &[u8])> {
        let info = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::model(&self.path, format!("tensor `{name}` is missing")))?;
        Ok((info, &self.map[info.range.clone()]))
    }
}

/// The GGML type ids GGUF files use (ggml.h's `enum ggml_type`).
fn dtype_from_id(id: u32) -> Option<GgmlDType> {
    Some(match id {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        9 => GgmlDType::Q8_1,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        15 => GgmlDType::Q8K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

/// A cursor over the mapped bytes whose every read is bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

type Parsed = (HashMap<String, Value>, HashMap<String, GgufTensorInfo>);

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {} left",
                self.pos,
                self.remaining()
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> std::result::Result<[u8; N], String> {
        Ok(self.take(N, what)?.try_into().expect("take returned N bytes"))
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must fit in the rest of the file at `min_size` bytes per item.
    fn count(&mut self, min_size: usize, what: &str) -> std::result::Result<usize, String> {
        let n = self.u64(what)?;
        let fits = usize::try_from(n).ok().filter(|n| n.saturating_mul(min_size) <= self.remaining());
        fits.ok_or_else(|| format!("{what} {n} cannot fit in the {} bytes left in the file", self.remaining()))
    }

    fn string(&mut self, what: &str) -> std::result::Result<String, String> {
        let len = self.count(1, &format!("length of {what}"))?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
    }

    fn value(&mut self, type_id: u32, depth: usize, key: &str) -> std::result::Result<Value, String> {
        Ok(match type_id {
            0 => Value::U8(self.array::<1>(key)?[0]),
            1 => Value::I8(self.array::<1>(key)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(i32::from_le_bytes(self.array(key)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(key)?)),
            7 => match self.array::<1>(key)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("metadata `{key}`: {b} is not a bool")),
            },
            8 => Value::String(self.string(&format!("metadata `{key}`"))?),
            9 => {
                if depth >= MAX_VALUE_DEPTH {
                    return Err(format!("metadata `{key}`: arrays nested deeper than {MAX_VALUE_DEPTH}"));
                }
                let item_type = self.u32(key)?;
                let len = self.count(1, &format!("length of array `{key}`"))?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.value(item_type, depth + 1, key)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(i64::from_le_bytes(self.array(key)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(key)?)),
            other => return Err(format!("metadata `{key}` has unknown value type {other}")),
        })
    }
}

fn parse(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    let mut cur = Cursor { bytes, pos: 0 };
    if cur.take(4, "the magic number").ok() != Some(MAGIC.as_slice()) {
        return Err("not a GGUF file (wrong magic number)".into());
    }
    let version = cur.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(format!("GGUF version {version} is not supported (2 and 3 are)"));
    }
    // Smallest possible tensor info: name length (8) + n_dims (4) + type (4) + offset (8).
    let tensor_count = cur.count(24, "tensor count")?;
    // Smallest possible metadata entry: key length (8) + type (4) + a one-byte value.
    let kv_count = cur.count(13, "metadata entry count")?;

    let mut metadata = HashMap::with_capacity(kv_count);
    for _ in 0..kv_count {
        let key = cur.string("a metadata key")?;
        let type_id = cur.u32(&key)?;
        let value = cur.value(type_id, 0, &key)?;
        metadata.insert(key, value);
    }

    let mut infos = Vec::with_capacity(tensor_count);
    for _ in 0..tensor_count {
        let name = cur.string("a tensor name")?;
        let n_dims = cur.u32(&name)?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(format!("tensor `{name}` has {n_dims} dimensions"));
        }
        let mut shape = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            shape.push(cur.u64(&name)?);
        }
        let elems = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n > 0 && n <= MAX_TENSOR_ELEMS)
            .ok_or_else(|| format!("tensor `{name}` has an impossible shape {shape:?}"))?;
        let type_id = cur.u32(&name)?;
        let dtype = dtype_from_id(type_id)
            .ok_or_else(|| format!("tensor `{name}` has unknown GGML type {type_id}"))?;
        let offset = cur.u64(&name)?;
        if elems % dtype.block_size() as u64 != 0 {
            return Err(format!("tensor `{name}`: {elems} elements are not whole {dtype:?} blocks"));
        }
        let size = elems / dtype.block_size() as u64 * dtype.type_size() as u64;
        shape.reverse();
        infos.push((name, dtype, shape, offset, size));
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(a)) if a.is_power_of_two() => *a as u64,
        Some(other) => return Err(format!("general.alignment {other:?} is not a power of two")),
    };
    let data_start = (cur.pos as u64).div_ceil(alignment) * alignment;
    let file_len = bytes.len() as u64;
    let mut tensors = HashMap::with_capacity(infos.len());
    for (name, dtype, shape, offset, size) in infos {
        let start = data_start.checked_add(offset);
        let end = start.and_then(|s| s.checked_add(size));
        let (Some(start), Some(end)) = (start, end) else {
            return Err(format!("tensor `{name}` has an impossible offset {offset}"));
        };
        if end > file_len {
            return Err(format!(
                "truncated: tensor `{name}` needs bytes {start}..{end}, the file has {file_len}"
            ));
        }
        let shape = shape.into_iter().map(|d| d as usize).collect();
        let range = start as usize..end as usize;
        tensors.insert(name, GgufTensorInfo { dtype, shape, range });
    }
    Ok((metadata, tensors))
}

/// Writes a GGUF file: used by tests to build small models and crafted headers.
#[doc(hidden)]
pub fn write(path: &Path, metadata: &[(&str, Value)], tensors: &[(&str, &QTensor)]) -> Result<()> {
    let mut file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    candle_core::quantized::gguf_file::write(&mut file, &metadata, tensors)
        .map_err(|e| Error::model(path, e))
}
