using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Plain F32, F16 and BF16 rows: conversion to and from float (the dequantizer and the Convert
/// quantizer) and the float dot product with a row of the same type, accumulated in float with FMA
/// as ggml's CPU does. Unlike the block families, these dot loops carry no software prefetch: their rows are
/// plain sequential streams, and measured (F16, 2048-wide rows, one thread) the hardware prefetcher alone
/// reads them faster (24-26 GB/s) than with hints 1 KiB ahead (19-21 GB/s).
/// </summary>
internal sealed class ElementKernelEmitter : KernelFamily
{
    public override string Name => "Element";

    public override bool EmitsWeights(KernelModel model) =>
        model.Scheme == "Element" && model.Layout.Fields[0].Format is "F32" or "F16" or "BF16";

    public override string? DotProblem(KernelModel model) =>
        model.Activation!.Name == model.Name ? null : "element types dot with their own type only";

    public override bool EmitsQuantizer(KernelModel model) => model.QuantizerRule == "Convert" && EmitsWeights(model);

    public override void EmitWeightKernels(SourceWriter writer, KernelModel model)
    {
        var format = model.Layout.Fields[0].Format;
        writer
            .Line("/// <summary>Scalar fallback: the reference.</summary>")
            .Line("public static void DequantizeRowScalar(byte* source, float* destination, long count) => DequantizeReferenceRow(source, destination, count);")
            .Line();
        foreach (var width in Width.All)
        {
            writer.Lines(width.Fill(format == "F32" ? CopyIn : Replace(ToFloatTemplate, format)));
            if (format == "BF16")
            {
                writer.Lines(width.Fill(BFloat16Widen));
            }
        }

        writer.Lines(format == "F32" ? DotScalarF32 : Replace(DotScalar, format));
        foreach (var width in Width.All)
        {
            writer.Lines(width.Fill(Replace(format == "F32" ? DotF32 : DotHalf, format)));
        }

        if (format == "F32")
        {
            FloatTileEmitter.Emit(writer);
        }

        if (format == "F16")
        {
            writer.Lines(DotScaledScalar);
            foreach (var width in Width.All)
            {
                writer.Lines(width.Fill(DotScaled));
            }

            KernelClassEmitter.Dispatch(writer, "DotKernel", "DotScaled", "DotScaled");

            writer.Lines(DecodeScaledScalar);
            foreach (var width in Width.All)
            {
                writer.Lines(width.Fill(DecodeScaled));
            }

            KernelClassEmitter.Dispatch(writer, "DequantizeRowKernel", "DecodeScaled", "DecodeScaledRow");

            writer.Lines(RoundScaledScalar);
            foreach (var width in Width.All)
            {
                writer.Lines(width.Fill(RoundScaled));
            }

            KernelClassEmitter.Dispatch(writer, "FloatRowKernel", "RoundScaled", "RoundScaledRow");
        }
    }

    public override void EmitQuantizer(SourceWriter writer, KernelModel model)
    {
        var format = model.Layout.Fields[0].Format;
        writer.Lines(format == "F32" ? CopyOut.Replace("$W", "Scalar") : Replace(QuantizeScalar, format));
        foreach (var width in Width.All)
        {
            writer.Lines(width.Fill(format == "F32" ? CopyOut : Replace(FromFloatTemplate, format)));
        }
    }

    /// <summary>$ToFloat/$FromFloat: vector conversion of 16-bit patterns; $Scalar*: the exact scalar ones.</summary>
    private static string Replace(string template, string format) => format == "F16"
        ? template.Replace("$DotToFloatBits", "Simd.HalfBitsToSingleForArithmetic").Replace("$ToFloatBits", "Simd.HalfBitsToSingle").Replace("$FromFloatBits", "Simd.SingleToHalfBits")
            .Replace("$ScalarToFloat", "global::QuantPS.Kernels.FloatConversions.HalfToSingle").Replace("$ScalarFromFloat", "global::QuantPS.Kernels.FloatConversions.SingleToHalf")
        : template.Replace("$DotToFloatBits", "BFloat16BitsToSingle").Replace("$ToFloatBits", "BFloat16BitsToSingle").Replace("$FromFloatBits", "Simd.SingleToBFloat16Bits")
            .Replace("$ScalarToFloat", "global::QuantPS.Kernels.FloatConversions.BFloat16ToSingle").Replace("$ScalarFromFloat", "global::QuantPS.Kernels.FloatConversions.SingleToBFloat16");

    private const string CopyIn = """
        /// <summary>F32 rows are already floats.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void DequantizeRow$W(byte* source, float* destination, long count) =>
            Buffer.MemoryCopy(source, destination, count * sizeof(float), count * sizeof(float));

        """;

    private const string CopyOut = """
        /// <summary>F32 activations are a copy.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void QuantizeRow$W(float* source, byte* destination, long count) =>
            Buffer.MemoryCopy(source, destination, count * sizeof(float), count * sizeof(float));

        """;

    private const string ToFloatTemplate = """
        /// <summary>16-bit floats to float, 2 x $L per step.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void DequantizeRow$W(byte* source, float* destination, long count)
        {
            ushort* bits = (ushort*)source;
            long i = 0;
            for (; i + 2 * $L <= count; i += 2 * $L)
            {
                var packed = $V.Load(bits + i);
                $ToFloatBits($V.WidenLower(packed)).Store(destination + i);
                $ToFloatBits($V.WidenUpper(packed)).Store(destination + i + $L);
            }

            for (; i < count; i++)
            {
                destination[i] = $ScalarToFloat(bits[i]);
            }
        }

        """;

    private const string BFloat16Widen = """
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static $V<float> BFloat16BitsToSingle($V<uint> bits) => $V.ShiftLeft(bits, 16).AsSingle();

        """;

    private const string FromFloatTemplate = """
        /// <summary>Floats to 16-bit floats (round to nearest even), 2 x $L per step.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void QuantizeRow$W(float* source, byte* destination, long count)
        {
            ushort* bits = (ushort*)destination;
            long i = 0;
            for (; i + 2 * $L <= count; i += 2 * $L)
            {
                var low = $FromFloatBits($V.Load(source + i));
                var high = $FromFloatBits($V.Load(source + i + $L));
                $V.Narrow(low, high).Store(bits + i);
            }

            for (; i < count; i++)
            {
                bits[i] = $ScalarFromFloat(source[i]);
            }
        }

        """;

    private const string QuantizeScalar = """
        /// <summary>Scalar fallback activation conversion.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void QuantizeRowScalar(float* source, byte* destination, long count)
        {
            for (long i = 0; i < count; i++)
            {
                Unsafe.WriteUnaligned(destination + i * TypeSize, $ScalarFromFloat(source[i]));
            }
        }

        """;

    private const string DotScalar = """
        /// <summary>Scalar fallback dot product.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float DotScalar(long count, byte* weights, byte* activations)
        {
            float sum = 0f;
            for (long i = 0; i < count; i++)
            {
                sum += $ScalarToFloat(Unsafe.ReadUnaligned<ushort>(weights + i * TypeSize)) * $ScalarToFloat(Unsafe.ReadUnaligned<ushort>(activations + i * TypeSize));
            }

            return sum;
        }

        """;

    private const string DotScalarF32 = """
        /// <summary>Scalar fallback dot product.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float DotScalar(long count, byte* weights, byte* activations)
        {
            float sum = 0f;
            for (long i = 0; i < count; i++)
            {
                sum += ((float*)weights)[i] * ((float*)activations)[i];
            }

            return sum;
        }

        """;

    private const string DotF32 = """
        /// <summary>Float dot product, four $L-wide accumulators.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float Dot$W(long count, byte* weights, byte* activations)
        {
            float* x = (float*)weights;
            float* y = (float*)activations;
            var acc0 = $V<float>.Zero;
            var acc1 = $V<float>.Zero;
            var acc2 = $V<float>.Zero;
            var acc3 = $V<float>.Zero;
            long i = 0;
            for (; i + 4 * $L <= count; i += 4 * $L)
            {
                acc0 = Simd.MultiplyAdd($V.Load(x + i), $V.Load(y + i), acc0);
                acc1 = Simd.MultiplyAdd($V.Load(x + i + $L), $V.Load(y + i + $L), acc1);
                acc2 = Simd.MultiplyAdd($V.Load(x + i + 2 * $L), $V.Load(y + i + 2 * $L), acc2);
                acc3 = Simd.MultiplyAdd($V.Load(x + i + 3 * $L), $V.Load(y + i + 3 * $L), acc3);
            }

            for (; i + $L <= count; i += $L)
            {
                acc0 = Simd.MultiplyAdd($V.Load(x + i), $V.Load(y + i), acc0);
            }

            float sum = $V.Sum((acc0 + acc1) + (acc2 + acc3));
            for (; i < count; i++)
            {
                sum += x[i] * y[i];
            }

            return sum;
        }

        """;

    // F16 weights against float activations that were rounded to F16 and multiplied by 2^112 (ScaledActivation).
    // A half's bits, sign-extended and shifted left 13 with bits 28-30 cleared, are a float worth the half times
    // 2^-112, exact for normals and subnormals; against the scaled activation every product, and so every sum, is
    // the same float as half times activation. Three integer operations per value instead of a full conversion on
    // each side. Exponent 31 (inf, NaN) is not covered by the shortcut: a row holding one is summed again exactly.
    private const string DotScaledScalar = """
        /// <summary>2^112, the factor DotScaled's activations carry (exact for every F16 value: 65504 * 2^112 &lt; 2^128).</summary>
        public const float ScaledActivation = 5.192296858534828e33f;

        /// <summary>Scalar fallback of DotScaled: each half converted exactly, the activation's factor taken back out (exact).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float DotScaledScalar(long count, byte* weights, byte* activations)
        {
            ushort* x = (ushort*)weights;
            float* y = (float*)activations;
            float sum = 0f;
            for (long i = 0; i < count; i++)
            {
                sum += global::QuantPS.Kernels.FloatConversions.HalfToSingle(x[i]) * (y[i] * (1f / ScaledActivation));
            }

            return sum;
        }

        """;

    private const string DotScaled = """
        /// <summary>Dot product of an F16 row with activations scaled by <see cref="ScaledActivation"/>, 2 x $L per step.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float DotScaled$W(long count, byte* weights, byte* activations)
        {
            short* x = (short*)weights;
            float* y = (float*)activations;
            var mask = $V.Create(unchecked((int)0x8FFFE000));
            var exponent = $V.Create((short)0x7C00);
            var acc0 = $V<float>.Zero;
            var acc1 = $V<float>.Zero;
            var acc2 = $V<float>.Zero;
            var acc3 = $V<float>.Zero;
            var largest = $V<short>.Zero;
            // Past 4096 values the activations (4 bytes each) and a weight row no longer fit in L1 together, and
            // streamed from memory the row slowed from 30 to 14 GB/s on one thread (k = 5632); asking for the weights
            // 4 KiB ahead into L2 brings it back to 22. Shorter rows read fastest on the hardware prefetcher alone.
            var longRow = count > 4096;
            long i = 0;
            for (; i + 4 * $L <= count; i += 4 * $L)
            {
                if (longRow)
                {
                    Simd.PrefetchToL2((byte*)(x + i) + Simd.PrefetchAhead);
                    Simd.PrefetchToL2((byte*)(x + i) + Simd.PrefetchAhead + 4 * $L);
                }

                var x0 = $V.Load(x + i);
                var x1 = $V.Load(x + i + 2 * $L);
                // The exponent check on the 16-bit values: half as many operations as on the widened ones.
                largest = $V.Max(largest, $V.Max(x0 & exponent, x1 & exponent));
                var w0 = $V.ShiftLeft($V.WidenLower(x0), 13) & mask;
                var w1 = $V.ShiftLeft($V.WidenUpper(x0), 13) & mask;
                var w2 = $V.ShiftLeft($V.WidenLower(x1), 13) & mask;
                var w3 = $V.ShiftLeft($V.WidenUpper(x1), 13) & mask;
                acc0 = Simd.MultiplyAdd(w0.AsSingle(), $V.Load(y + i), acc0);
                acc1 = Simd.MultiplyAdd(w1.AsSingle(), $V.Load(y + i + $L), acc1);
                acc2 = Simd.MultiplyAdd(w2.AsSingle(), $V.Load(y + i + 2 * $L), acc2);
                acc3 = Simd.MultiplyAdd(w3.AsSingle(), $V.Load(y + i + 3 * $L), acc3);
            }

            float sum = $V.Sum((acc0 + acc1) + (acc2 + acc3));
            var special = $V.EqualsAny(largest, exponent);
            for (; i < count; i++)
            {
                var bits = ((int)x[i] << 13) & unchecked((int)0x8FFFE000);
                special |= (bits & 0x0F800000) == 0x0F800000;
                sum += BitConverter.Int32BitsToSingle(bits) * y[i];
            }

            return special ? DotScaledScalar(count, weights, activations) : sum;
        }

        """;

    // The weight side of DotScaled on its own, for the float tiles of batched products: halves decoded to floats worth
    // half times 2^-112 by the same three integer operations, to be multiplied with activations that carry 2^112.
    private const string DecodeScaledScalar = """
        /// <summary>Scalar DecodeScaled: each half converted exactly, times 2^-112 (exact for every F16 value, inf and NaN included).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void DecodeScaledRowScalar(byte* source, float* destination, long count)
        {
            ushort* x = (ushort*)source;
            for (long i = 0; i < count; i++)
            {
                destination[i] = global::QuantPS.Kernels.FloatConversions.HalfToSingle(x[i]) * (1f / ScaledActivation);
            }
        }

        """;

    private const string DecodeScaled = """
        /// <summary>
        /// Halves as floats worth half x 2^-112 (1 / <see cref="ScaledActivation"/>), $L per store: the bits of DotScaled's
        /// weights, equal to DecodeScaledRowScalar's; a row holding inf or NaN goes through DecodeScaledRowScalar.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void DecodeScaledRow$W(byte* source, float* destination, long count)
        {
            short* x = (short*)source;
            var mask = $V.Create(unchecked((int)0x8FFFE000));
            var exponent = $V.Create((short)0x7C00);
            var largest = $V<short>.Zero;
            long i = 0;
            for (; i + 2 * $L <= count; i += 2 * $L)
            {
                var x0 = $V.Load(x + i);
                largest = $V.Max(largest, x0 & exponent);
                ($V.ShiftLeft($V.WidenLower(x0), 13) & mask).AsSingle().Store(destination + i);
                ($V.ShiftLeft($V.WidenUpper(x0), 13) & mask).AsSingle().Store(destination + i + $L);
            }

            var special = $V.EqualsAny(largest, exponent);
            for (; i < count; i++)
            {
                var bits = ((int)x[i] << 13) & unchecked((int)0x8FFFE000);
                special |= (bits & 0x0F800000) == 0x0F800000;
                destination[i] = BitConverter.Int32BitsToSingle(bits);
            }

            if (special)
            {
                DecodeScaledRowScalar(source, destination, count);
            }
        }

        """;

    // The activation side of DotScaled and DecodeScaled: each value rounded to F16 as ggml's from_float rounds it,
    // then carrying 2^112, in one pass over the row (it was a row of halves written, widened back, then scaled).
    private const string RoundScaledScalar = """
        /// <summary>Scalar RoundScaled: each value rounded to F16 (ggml's conversion there and back), times <see cref="ScaledActivation"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void RoundScaledRowScalar(float* source, float* destination, long count)
        {
            for (long i = 0; i < count; i++)
            {
                destination[i] = global::QuantPS.Kernels.FloatConversions.HalfToSingle(global::QuantPS.Kernels.FloatConversions.SingleToHalf(source[i])) * ScaledActivation;
            }
        }

        """;

    private const string RoundScaled = """
        /// <summary>Each value rounded to F16 and times <see cref="ScaledActivation"/>, $L per step: RoundScaledRowScalar's bits.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void RoundScaledRow$W(float* source, float* destination, long count)
        {
            var factor = $V.Create(ScaledActivation);
            long i = 0;
            for (; i + $L <= count; i += $L)
            {
                (Simd.RoundToHalf($V.Load(source + i)) * factor).Store(destination + i);
            }

            for (; i < count; i++)
            {
                destination[i] = global::QuantPS.Kernels.FloatConversions.HalfToSingle(global::QuantPS.Kernels.FloatConversions.SingleToHalf(source[i])) * ScaledActivation;
            }
        }

        """;

    private const string DotHalf = """
        /// <summary>Dot product of 16-bit float rows, converted to float and accumulated with FMA, 2 x $L per step.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float Dot$W(long count, byte* weights, byte* activations)
        {
            ushort* x = (ushort*)weights;
            ushort* y = (ushort*)activations;
            var acc0 = $V<float>.Zero;
            var acc1 = $V<float>.Zero;
            var acc2 = $V<float>.Zero;
            var acc3 = $V<float>.Zero;
            long i = 0;
            for (; i + 4 * $L <= count; i += 4 * $L)
            {
                var x0 = $V.Load(x + i);
                var y0 = $V.Load(y + i);
                var x1 = $V.Load(x + i + 2 * $L);
                var y1 = $V.Load(y + i + 2 * $L);
                acc0 = Simd.MultiplyAdd($DotToFloatBits($V.WidenLower(x0)), $DotToFloatBits($V.WidenLower(y0)), acc0);
                acc1 = Simd.MultiplyAdd($DotToFloatBits($V.WidenUpper(x0)), $DotToFloatBits($V.WidenUpper(y0)), acc1);
                acc2 = Simd.MultiplyAdd($DotToFloatBits($V.WidenLower(x1)), $DotToFloatBits($V.WidenLower(y1)), acc2);
                acc3 = Simd.MultiplyAdd($DotToFloatBits($V.WidenUpper(x1)), $DotToFloatBits($V.WidenUpper(y1)), acc3);
            }

            float sum = $V.Sum((acc0 + acc1) + (acc2 + acc3));
            for (; i < count; i++)
            {
                sum += $ScalarToFloat(x[i]) * $ScalarToFloat(y[i]);
            }

            return sum;
        }

        """;
}
