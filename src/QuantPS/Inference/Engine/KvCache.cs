using System.Runtime.InteropServices;
using QuantPS.Kernels;

namespace QuantPS.Inference.Engine;

/// <summary>The element type of the KV cache (llama.cpp's --cache-type-k / -v).</summary>
public enum KvCacheType
{
    /// <summary>Half precision, llama.cpp's default.</summary>
    F16,

    /// <summary>Full precision: twice the memory, the tightest match with an F32 reference.</summary>
    F32,

    /// <summary>8-bit blocks of 32: half of F16's memory; needs a head dimension that is a multiple of 32.</summary>
    Q8_0,
}

/// <summary>
/// Keys and values of every layer for every position of one sequence, stored as llama.cpp stores them
/// (row per position, KV heads side by side, converted with the type's CPU from_float). Native memory, freed on dispose.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    private byte* _memory;

    public KvCache(ModelConfig config, int contextLength, KvCacheType type)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (contextLength < 1)
        {
            throw new LlmException(LlmErrorKind.InvalidOption, $"The context length must be at least 1; got {contextLength}.", "ContextLength");
        }

        Type = type;
        TypeInfo = GgmlTypeTraits.Get(type switch
        {
            KvCacheType.F16 => GgmlType.F16,
            KvCacheType.F32 => GgmlType.F32,
            KvCacheType.Q8_0 => GgmlType.Q8_0,
            _ => throw new LlmException(LlmErrorKind.InvalidOption, $"Unknown KV cache type {type}.", "KvCacheType"),
        });
        if (config.HeadDimension % TypeInfo.BlockSize != 0)
        {
            throw new LlmException(LlmErrorKind.InvalidOption,
                $"A {type} KV cache stores blocks of {TypeInfo.BlockSize} values, which do not divide this model's head dimension " +
                $"{config.HeadDimension}; use F16 or F32.", "KvCacheType");
        }

        ContextLength = contextLength;
        LayerCount = config.LayerCount;
        HeadCount = config.KvHeadCount;
        HeadBytes = TypeInfo.RowSizeBytes(config.HeadDimension);
        RowBytes = HeadBytes * HeadCount;
        Store = type == KvCacheType.F32 ? null : TypeInfo.QuantizeActivation
            ?? throw new LlmException(LlmErrorKind.InvalidOption, $"{type} has no converter from F32 in this build.", "KvCacheType");
        SizeBytes = checked(2L * LayerCount * contextLength * RowBytes);
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)SizeBytes, 64);
        // Committed now, as llama.cpp clears its cache buffer: the memory a context needs is taken
        // (and counted) when it is created, not discovered part-way through a long generation.
        NativeMemory.Clear(_memory, (nuint)SizeBytes);
        GC.AddMemoryPressure(SizeBytes);
    }

    public KvCacheType Type { get; }

    public GgmlTypeInfo TypeInfo { get; }

    public int ContextLength { get; }

    public int LayerCount { get; }

    public int HeadCount { get; }

    /// <summary>Bytes of one head of one position.</summary>
    public long HeadBytes { get; }

    /// <summary>Bytes of one position of one layer (all KV heads).</summary>
    public long RowBytes { get; }

    /// <summary>Bytes held by the cache (K and V, every layer, every position).</summary>
    public long SizeBytes { get; }

    // F32 -> cache type; null for F32 (a copy).
    private QuantizeRowKernel? Store { get; }

    /// <summary>The K row of <paramref name="position"/> in <paramref name="layer"/>.</summary>
    public byte* Key(int layer, int position) => Base() + ((long)(2 * layer) * ContextLength + position) * RowBytes;

    /// <summary>The V row of <paramref name="position"/> in <paramref name="layer"/>.</summary>
    public byte* Value(int layer, int position) => Base() + ((long)(2 * layer + 1) * ContextLength + position) * RowBytes;

    /// <summary>Converts a row of <paramref name="count"/> floats into the cache type at <paramref name="destination"/>.</summary>
    public void Write(float* source, byte* destination, long count)
    {
        if (Store is null)
        {
            Buffer.MemoryCopy(source, destination, count * sizeof(float), count * sizeof(float));
        }
        else
        {
            Store(source, destination, count);
        }
    }

    private byte* Base()
    {
        ObjectDisposedException.ThrowIf(_memory == null, this);
        return _memory;
    }

    public void Dispose()
    {
        if (_memory != null)
        {
            NativeMemory.AlignedFree(_memory);
            _memory = null;
            GC.RemoveMemoryPressure(SizeBytes);
        }

        GC.SuppressFinalize(this);
    }

    ~KvCache() => Dispose();
}
