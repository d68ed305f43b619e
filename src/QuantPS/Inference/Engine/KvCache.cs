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
/// A sliding-window layer keeps only window + batch cells, used round-robin (position p in cell p mod cells), as
/// llama.cpp's SWA cache does: a batch of queries sees at most window + batch - 1 positions, the rest are masked;
/// or, asked for (llama.cpp's --swa-full, which a context shift needs), every position as the other layers do.
/// </summary>
public sealed unsafe class KvCache : IDisposable
{
    private byte* _memory;

    // Per layer: its first K row in the allocation (its V rows follow its K rows), and its cell count.
    private readonly long[] _firstRow;
    private readonly int[] _cells;

    // One past the highest position written since the last reset; a ring cell may hold any position below it.
    private int _written;

    // The sliding window, and whether any layer keeps it as a ring of WindowCells (fewer than ContextLength).
    private readonly int _window;
    private readonly bool _ring;

    /// <summary>A cache for <paramref name="contextLength"/> positions of <paramref name="config"/>'s layers.</summary>
    /// <param name="config">The model's shape: layers, KV heads, head dimension, sliding window.</param>
    /// <param name="contextLength">Positions the cache holds.</param>
    /// <param name="type">The element type.</param>
    /// <param name="batch">The most positions one forward pass writes (sizes the sliding-window layers' rings).</param>
    /// <param name="fullWindowLayers">Sliding-window layers keep every position too (no ring), so positions can move.</param>
    public KvCache(ModelConfig config, int contextLength, KvCacheType type, int batch, bool fullWindowLayers = false)
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
        RowValues = HeadCount * config.HeadDimension;
        RowBytes = HeadBytes * HeadCount;
        Store = type == KvCacheType.F32 ? null : TypeInfo.QuantizeActivation
            ?? throw new LlmException(LlmErrorKind.InvalidOption, $"{type} has no converter from F32 in this build.", "KvCacheType");
        var windowCells = config.SlidingWindow > 0 && !fullWindowLayers
            ? (int)Math.Min(contextLength, (long)config.SlidingWindow + Math.Max(1, batch))
            : contextLength;
        WindowCells = windowCells;
        _window = config.SlidingWindow;
        _firstRow = new long[LayerCount];
        _cells = new int[LayerCount];
        long rows = 0;
        for (var layer = 0; layer < LayerCount; layer++)
        {
            _cells[layer] = config.IsSlidingWindowLayer(layer) ? windowCells : contextLength;
            _ring |= _cells[layer] < contextLength;
            _firstRow[layer] = rows;
            rows += 2L * _cells[layer];
        }

        SizeBytes = checked(rows * RowBytes);
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

    /// <summary>Values of one position of one layer (all KV heads).</summary>
    public int RowValues { get; }

    /// <summary>Bytes of one position of one layer (all KV heads).</summary>
    public long RowBytes { get; }

    /// <summary>Bytes held by the cache (K and V, every layer, every position).</summary>
    public long SizeBytes { get; }

    // F32 -> cache type; null for F32 (a copy).
    private QuantizeRowKernel? Store { get; }

    /// <summary>Cells a sliding-window layer keeps (<see cref="ContextLength"/> on models without them).</summary>
    public int WindowCells { get; }

    /// <summary>The K row of <paramref name="position"/> in <paramref name="layer"/>.</summary>
    public byte* Key(int layer, int position) => Base() + ((_firstRow[layer] + Cell(layer, position)) * RowBytes);

    /// <summary>The V row of <paramref name="position"/> in <paramref name="layer"/>.</summary>
    public byte* Value(int layer, int position) => Base() + ((_firstRow[layer] + _cells[layer] + Cell(layer, position)) * RowBytes);

    /// <summary>Notes that positions below <paramref name="end"/> have been written.</summary>
    public void Wrote(int end) => _written = Math.Max(_written, end);

    /// <summary>Forgets every position.</summary>
    public void Clear() => _written = 0;

    /// <summary>Whether positions can move (<see cref="ReadKey"/>, <see cref="MoveValue"/>): no layer keeps a ring.</summary>
    public bool CanMove => !_ring;

    /// <summary>The K row of <paramref name="position"/> in <paramref name="layer"/> as floats (exact for F16 and F32).</summary>
    public void ReadKey(int layer, int position, float* destination)
    {
        var row = Key(layer, position);
        if (Store is null)
        {
            Buffer.MemoryCopy(row, destination, RowBytes, RowBytes);
        }
        else
        {
            TypeInfo.Dequantize!(row, destination, RowValues);
        }
    }

    /// <summary>Copies the V row of position <paramref name="from"/> to position <paramref name="to"/> in <paramref name="layer"/>.</summary>
    public void MoveValue(int layer, int from, int to) =>
        Buffer.MemoryCopy(Value(layer, from), Value(layer, to), RowBytes, RowBytes);

    /// <summary>After positions moved down: the highest position written is now below <paramref name="end"/>.</summary>
    public void Rewind(int end) => _written = end;

    /// <summary>
    /// Whether the positions a query at <paramref name="position"/> would attend to are still held: always on full
    /// layers; on a sliding-window layer, unless a later position has since taken their cell (position p is lost
    /// once p + WindowCells has been written; the query needs p from position - window + 1 on).
    /// </summary>
    public bool Holds(int position) =>
        !_ring || _written - 1 < Math.Max(0, position - _window + 1) + WindowCells;

    private int Cell(int layer, int position)
    {
        var cells = _cells[layer];
        return position < cells ? position : position % cells;
    }

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
