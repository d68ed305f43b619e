using System.Text;

namespace QuantPS.Tests.Gguf;

/// <summary>
/// Writes GGUF bytes field by field, with no checks, so tests can build exactly the malformed
/// file they mean (the real writer refuses to produce most of these).
/// </summary>
internal sealed class RawGguf
{
    private readonly MemoryStream _bytes = new();
    private readonly BinaryWriter _w;

    public RawGguf() => _w = new BinaryWriter(_bytes, Encoding.UTF8, leaveOpen: true);

    public long Length => _bytes.Length;

    public RawGguf Magic(string magic = "GGUF") { _w.Write(Encoding.ASCII.GetBytes(magic)); return this; }
    public RawGguf U8(byte v) { _w.Write(v); return this; }
    public RawGguf U32(uint v) { _w.Write(v); return this; }
    public RawGguf I32(int v) { _w.Write(v); return this; }
    public RawGguf U64(ulong v) { _w.Write(v); return this; }
    public RawGguf I64(long v) { _w.Write(v); return this; }
    public RawGguf F32(float v) { _w.Write(v); return this; }
    public RawGguf Bytes(byte[] v) { _w.Write(v); return this; }
    public RawGguf Str(string s) => StrBytes(Encoding.UTF8.GetBytes(s));
    public RawGguf StrBytes(byte[] s) { _w.Write((ulong)s.Length); _w.Write(s); return this; }

    /// <summary>Magic, version, tensor count and key/value count (v2/v3 layout).</summary>
    public RawGguf Header(uint version, long tensors, long kvs) => Magic().U32(version).I64(tensors).I64(kvs);

    /// <summary>A key with a UInt32 value.</summary>
    public RawGguf KvU32(string key, uint value) => Str(key).U32(4).U32(value);

    public RawGguf KvString(string key, string value) => Str(key).U32(8).Str(value);

    /// <summary>A tensor-info record: name, dims, type id and data offset.</summary>
    public RawGguf TensorInfo(string name, long[] shape, uint type, ulong offset)
    {
        Str(name).U32((uint)shape.Length);
        foreach (var d in shape)
        {
            I64(d);
        }

        return U32(type).U64(offset);
    }

    /// <summary>Zero bytes up to the next multiple of <paramref name="alignment"/>.</summary>
    public RawGguf PadTo(int alignment)
    {
        while (_bytes.Length % alignment != 0)
        {
            _w.Write((byte)0);
        }

        return this;
    }

    public RawGguf Zeros(int count) { _w.Write(new byte[count]); return this; }

    public byte[] ToArray()
    {
        _w.Flush();
        return _bytes.ToArray();
    }
}
