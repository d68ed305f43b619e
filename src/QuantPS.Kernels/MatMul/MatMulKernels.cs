namespace QuantPS.Kernels.MatMul;

/// <summary>
/// The kernels one weight type needs for a matmul, resolved once from <see cref="GgmlTypeTraits"/> and cached,
/// so a call looks them up without allocating.
/// </summary>
internal sealed class MatMulKernels
{
    private static readonly MatMulKernels?[] Cache = new MatMulKernels?[64];

    private MatMulKernels(GgmlTypeInfo weight, GgmlTypeInfo activation, DotKernel dot, DotRowsKernel dot4, QuantizeRowKernel? quantize)
    {
        Weight = weight;
        Activation = activation;
        Dot = dot;
        Dot4 = dot4;
        Quantize = quantize;
        if (weight.Type == GgmlType.F16)
        {
            ScaledDot = Generated.F16Kernels.DotScaled;
            ScaledTileDecode = Generated.F16Kernels.DecodeScaled;
            ScaledRound = Generated.F16Kernels.RoundScaled;
        }

        if (weight.DotPrepared is { } prepared && weight.PrepareActivation is { } prepare && weight.PreparedActivationBytes is { } bytes && quantize is not null)
        {
            PreparedDot = prepared;
            PrepareActivation = prepare;
            PreparedActivationBytes = bytes;
        }

        DotEntries = (StaticEntry(Dot), StaticEntry(ScaledDot), StaticEntry(PreparedDot));

        // The integer panels need both sides as 32-integer blocks with one scale each; the super-panels, K-quant
        // super-blocks against 256-integer activation blocks.
        if (weight.BlockSize == Generated.IntegerPanelKernels.BlockSize && weight.DecodeIntegers is { } weights
            && activation.DecodeIntegers is { } activations && quantize is not null)
        {
            Panels = PanelKind.Int16;
            PanelDecode = weights;
            ActivationDecode = activations;

            // A narrow range fits the byte kernels: the widest flush whose int16 sums cannot saturate.
            foreach (var flush in Generated.IntegerPanelKernels.ByteFlushes)
            {
                if (weight.IntegerMax - weight.IntegerMin <= Generated.IntegerPanelKernels.ByteRangeFor(flush))
                {
                    Panels = PanelKind.Bytes;
                    ByteFlush = flush;
                    ByteBias = -weight.IntegerMin;
                    BytePanelTile = Generated.IntegerPanelKernels.PanelTileBytesAt(KernelWidth.Active, flush);
                    break;
                }
            }
        }
        else if (weight.DecodeSubScaled is { } subScaled && weight.BlockSize == Generated.IntegerPanelKernels.SuperBlockSize
            && activation.BlockSize == weight.BlockSize && activation.DecodeIntegers is { } superActivations && quantize is not null)
        {
            Panels = PanelKind.Super;
            SuperDecode = subScaled;
            ActivationDecode = superActivations;
            MinUnits = weight.SubScaledMins / 2;
            SuperPanelTile = Generated.IntegerPanelKernels.SuperPanelTileAt(KernelWidth.Active, MinUnits);

            // Small unsigned values with a min per sub-block take the byte super-panels, flushing int16 sums as often as
            // the range needs and at least once per sub-block.
            if (weight.DecodeSubBlocks is { } subBlocks && weight.SubScaledMins > 0)
            {
                var subBlock = Generated.IntegerPanelKernels.SuperBlockSize / weight.SubScaledMins;
                foreach (var flush in Generated.IntegerPanelKernels.ByteFlushes)
                {
                    if (weight.SubBlockQuantMax <= Generated.IntegerPanelKernels.ByteRangeFor(flush)
                        && Generated.IntegerPanelKernels.SuperBytePanelTileAt(KernelWidth.Active, subBlock, Math.Min(flush, subBlock / 4), MinUnits) is { } kernel)
                    {
                        Panels = PanelKind.SuperBytes;
                        SubBlocksDecode = subBlocks;
                        SubBlock = subBlock;
                        BytePanelTile = kernel;
                        break;
                    }
                }
            }
        }
    }

    /// <summary>Units the byte panels sum in int16 before widening (with <see cref="PanelKind.Bytes"/>).</summary>
    public int ByteFlush { get; }

    /// <summary>What the byte panels add to each weight so it is an unsigned byte (minus the smallest integer).</summary>
    public int ByteBias { get; }

    /// <summary>The byte panel kernel (for <see cref="ByteFlush"/>) or the byte super-panel kernel at the active width; else null.</summary>
    public IntegerBytePanelKernel? BytePanelTile { get; }

    /// <summary>Which integer panels matrix-matrix products over these weights use (see MatMulRunner.IntegerPanels).</summary>
    public PanelKind Panels { get; }

    /// <summary>The K-quant weights as sub-scaled integers, with the super-panels; else null.</summary>
    public DecodeSubScaledKernel? SuperDecode { get; }

    /// <summary>The K-quant weights as bytes with their sub-scales apart, with the byte super-panels; else null.</summary>
    public DecodeSubBlocksKernel? SubBlocksDecode { get; }

    /// <summary>Values per sub-block of the byte super-panels' weights.</summary>
    public int SubBlock { get; }

    /// <summary>Min pair units per super-block of the super-panels (0, 4 or 8).</summary>
    public int MinUnits { get; }

    /// <summary>The super-panel kernel for <see cref="MinUnits"/> at the active width; null without super-panels.</summary>
    public IntegerPanelKernel? SuperPanelTile { get; }

    /// <summary>The weights' blocks as integers and scales, with the int16 or byte panels; else null.</summary>
    public DecodeIntegersKernel? PanelDecode { get; }

    /// <summary>The quantized activations' blocks as integers and scales, with any panels.</summary>
    public DecodeIntegersKernel? ActivationDecode { get; }

    /// <summary>
    /// F16 only (null elsewhere): the dot product against activations rounded to F16, widened to float and multiplied
    /// by <see cref="ScaledActivation"/> once per row, so the kernel converts only the weights (see F16Kernels.DotScaled).
    /// </summary>
    public DotKernel? ScaledDot { get; }

    /// <summary>
    /// F16 only (null elsewhere): the float tiles' weight decoder, values times 1 / <see cref="ScaledActivation"/>, for
    /// activation rows that carry <see cref="ScaledActivation"/> (see F16Kernels.DecodeScaled): the same products as
    /// exact conversions give, decoded in about a third of the time (17 -> 6 % of F16 prompt-processing samples).
    /// </summary>
    public DequantizeRowKernel? ScaledTileDecode { get; }

    /// <summary>
    /// F16 only (null elsewhere): an activation row rounded to F16 and multiplied by <see cref="ScaledActivation"/> in
    /// one pass, the rows <see cref="ScaledDot"/> and <see cref="ScaledTileDecode"/>'s tiles take.
    /// </summary>
    public FloatRowKernel? ScaledRound { get; }

    /// <summary>The matrix-vector dot over a prepared activation row (Q4_0, Q8_0); null for most types.</summary>
    public DotKernel? PreparedDot { get; }

    /// <summary>Rearranges a quantized activation row for <see cref="PreparedDot"/>.</summary>
    public PrepareActivationKernel? PrepareActivation { get; }

    /// <summary>Bytes of a prepared activation row.</summary>
    public Func<long, long>? PreparedActivationBytes { get; }

    /// <summary>The factor <see cref="ScaledDot"/>'s activations carry.</summary>
    public static float ScaledActivation => Generated.F16Kernels.ScaledActivation;

    public GgmlTypeInfo Weight { get; }

    public GgmlTypeInfo Activation { get; }

    public DotKernel Dot { get; }

    /// <summary>
    /// The entry points of <see cref="Dot"/>, <see cref="ScaledDot"/> and <see cref="PreparedDot"/>, for calling them
    /// directly: 0 where a kernel is absent or not a static method (then its delegate is called). A delegate to a
    /// static method goes through a shuffle thunk on every call, and a matrix-vector product makes one call per
    /// weight row (about 1 % of 1-thread generation).
    /// </summary>
    public (nint Dot, nint Scaled, nint Prepared) DotEntries { get; }

    private static nint StaticEntry(Delegate? kernel) =>
        kernel is { Target: null, Method.IsStatic: true } ? kernel.Method.MethodHandle.GetFunctionPointer() : 0;

    /// <summary>One weight row against four activation rows (each result equal to <see cref="Dot"/>'s).</summary>
    public DotRowsKernel Dot4 { get; }

    /// <summary>Null when the activations are F32: the dot then reads the caller's floats directly.</summary>
    public QuantizeRowKernel? Quantize { get; }

    /// <summary>The block size both the weight row and the activation row must be a whole number of.</summary>
    public long RowMultiple => Math.Max(Weight.BlockSize, Activation.BlockSize);

    public static bool TryGet(GgmlType type, out MatMulKernels kernels, out string? reason)
    {
        var id = (uint)type;
        if (id < Cache.Length && Volatile.Read(ref Cache[id]) is { } cached)
        {
            kernels = cached;
            reason = null;
            return true;
        }

        if (!GgmlTypeTraits.TryGet(id, out var weight))
        {
            kernels = null!;
            reason = $"{type} is not a GGML tensor type this build knows.";
            return false;
        }

        if (weight.Dot is not { } dot || weight.Dot4 is not { } dot4 || !weight.HasKernels)
        {
            kernels = null!;
            reason = $"{weight.Name} has no dot-product kernel yet, so it cannot be used as matmul weights.";
            return false;
        }

        var activation = GgmlTypeTraits.Get(weight.ActivationType);
        QuantizeRowKernel? quantize = null;
        if (activation.Type != GgmlType.F32)
        {
            if (activation.QuantizeActivation is not { } q)
            {
                kernels = null!;
                reason = $"{weight.Name} multiplies against {activation.Name} activations, which have no quantizer yet.";
                return false;
            }

            quantize = q;
        }

        kernels = new MatMulKernels(weight, activation, dot, dot4, quantize);
        if (id < Cache.Length)
        {
            Volatile.Write(ref Cache[id], kernels);
        }

        reason = null;
        return true;
    }
}

/// <summary>The integer panels a weight type's matrix-matrix products run on.</summary>
internal enum PanelKind
{
    /// <summary>None: Dot4 against four activation rows at a time.</summary>
    None,

    /// <summary>32-integer blocks as int16 pairs (IntegerPanelKernels.PanelTile).</summary>
    Int16,

    /// <summary>32-integer blocks of a narrow range as biased bytes (PanelTileBytes).</summary>
    Bytes,

    /// <summary>K-quant super-blocks as sub-scaled int16 pairs (SuperPanelTile).</summary>
    Super,

    /// <summary>K-quant super-blocks of small unsigned values as bytes, sub-scales apart (SuperBytePanelTile).</summary>
    SuperBytes,
}
