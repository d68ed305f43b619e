using System.Buffers.Binary;
using QuantPS.Kernels;
using QuantPS.Quantization.Types;

namespace QuantPS.Quantization;

/// <summary>
/// Quantizes whole rows of float32 to a GGML block type, byte-identical with llama.cpp's
/// ggml_quantize_chunk (with or without an importance matrix).
/// </summary>
public static class TypeQuantizer
{
    /// <summary>
    /// True for the types ggml refuses to quantize without an importance matrix
    /// (ggml_quantize_requires_imatrix: IQ2_XXS, IQ2_XS, IQ1_S).
    /// </summary>
    public static bool RequiresImportance(GgmlType type) =>
        type is GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ1_S;

    /// <summary>True when <see cref="Quantize"/> implements <paramref name="type"/>.</summary>
    public static bool IsSupported(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => true,
        GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 => true,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K => true,
        GgmlType.IQ4_NL or GgmlType.IQ4_XS => true,
        GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ2_S or GgmlType.IQ3_XXS or GgmlType.IQ3_S or GgmlType.IQ1_S or GgmlType.IQ1_M => true,
        GgmlType.MXFP4 or GgmlType.NVFP4 or GgmlType.TQ1_0 or GgmlType.TQ2_0 or GgmlType.Q1_0 or GgmlType.Q2_0 => true,
        _ => false,
    };

    /// <summary>
    /// Quantizes <paramref name="source"/> (whole rows of <paramref name="rowLength"/> values) into
    /// <paramref name="destination"/>. <paramref name="importance"/> holds one weight per column
    /// (rowLength values) or is empty for none.
    /// </summary>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="QuantizationException">The type needs an importance matrix and none was given, or is not implemented.</exception>
    /// <exception cref="ArgumentException">The sizes do not fit.</exception>
    public static long Quantize(GgmlType type, ReadOnlySpan<float> source, int rowLength, Span<byte> destination, ReadOnlySpan<float> importance)
    {
        var info = GgmlTypeTraits.Get(type);
        if (rowLength <= 0 || source.Length % rowLength != 0)
        {
            throw new ArgumentException($"The source holds {source.Length} values, not a whole number of rows of {rowLength}.", nameof(rowLength));
        }

        long rowBytes = info.RowSizeBytes(rowLength);
        int rows = source.Length / rowLength;
        if (destination.Length < rowBytes * rows)
        {
            throw new ArgumentException($"{rows} rows of {type} need {rowBytes * rows} bytes; the destination has {destination.Length}.", nameof(destination));
        }

        if (!importance.IsEmpty && importance.Length != rowLength)
        {
            throw new ArgumentException($"The importance vector has {importance.Length} values; rows have {rowLength}.", nameof(importance));
        }

        if (RequiresImportance(type) && importance.IsEmpty)
        {
            throw new QuantizationException(QuantizationErrorIds.ImportanceRequired,
                $"{type} cannot be quantized without an importance matrix; compute one with llama-imatrix and pass it.");
        }

        if (!IsSupported(type))
        {
            throw new QuantizationException(QuantizationErrorIds.TypeNotSupported, $"Quantizing to {type} is not implemented yet.");
        }

        for (int r = 0; r < rows; r++)
        {
            QuantizeRow(type, source.Slice(r * rowLength, rowLength), destination.Slice((int)(r * rowBytes), (int)rowBytes), importance);
        }

        return rowBytes * rows;
    }

    private static void QuantizeRow(GgmlType type, ReadOnlySpan<float> x, Span<byte> y, ReadOnlySpan<float> qw)
    {
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < x.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(y[(4 * i)..], x[i]);
                }

                break;
            case GgmlType.F16:
                for (int i = 0; i < x.Length; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(y[(2 * i)..], FloatConversions.SingleToHalf(x[i]));
                }

                break;
            case GgmlType.BF16:
                for (int i = 0; i < x.Length; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(y[(2 * i)..], FloatConversions.SingleToBFloat16(x[i]));
                }

                break;
            case GgmlType.Q8_0: LegacyQuantizers.Q8_0(x, y); break; // ggml ignores the imatrix here
            case GgmlType.Q4_0: LegacyQuantizers.Q4_0(x, y, qw); break;
            case GgmlType.Q4_1: LegacyQuantizers.Q4_1(x, y, qw); break;
            case GgmlType.Q5_0: LegacyQuantizers.Q5_0(x, y, qw); break;
            case GgmlType.Q5_1: LegacyQuantizers.Q5_1(x, y, qw); break;
            case GgmlType.Q2_K: KQuantizers.Q2_K(x, y, qw); break;
            case GgmlType.Q3_K: KQuantizers.Q3_K(x, y, qw); break;
            case GgmlType.Q4_K: KQuantizers.Q4_K(x, y, qw); break;
            case GgmlType.Q5_K: KQuantizers.Q5_K(x, y, qw); break;
            case GgmlType.Q6_K: KQuantizers.Q6_K(x, y, qw); break;
            case GgmlType.IQ4_NL: NonLinearQuantizers.IQ4_NL(x, y, qw); break;
            case GgmlType.IQ4_XS: NonLinearQuantizers.IQ4_XS(x, y, qw); break;
            case GgmlType.IQ2_XXS: GridQuantizers.IQ2_XXS(x, y, qw); break; // importance required (checked above)
            case GgmlType.IQ2_XS: GridQuantizers.IQ2_XS(x, y, qw); break;
            case GgmlType.IQ2_S: GridQuantizers.IQ2_S(x, y, qw); break;
            case GgmlType.IQ3_XXS: GridQuantizers.IQ3_XXS(x, y, qw); break;
            case GgmlType.IQ3_S: GridQuantizers.IQ3_S(x, y, qw); break;
            case GgmlType.IQ1_S: GridQuantizers.IQ1_S(x, y, qw); break;
            case GgmlType.IQ1_M: GridQuantizers.IQ1_M(x, y, qw); break;
            case GgmlType.MXFP4: SmallQuantizers.MXFP4(x, y); break; // these ignore the imatrix, as in ggml
            case GgmlType.NVFP4: SmallQuantizers.NVFP4(x, y); break;
            case GgmlType.TQ1_0: SmallQuantizers.TQ1_0(x, y); break;
            case GgmlType.TQ2_0: SmallQuantizers.TQ2_0(x, y); break;
            case GgmlType.Q1_0: SmallQuantizers.Q1_0(x, y); break;
            case GgmlType.Q2_0: SmallQuantizers.Q2_0(x, y); break;
            default: throw new QuantizationException(QuantizationErrorIds.TypeNotSupported, $"Quantizing to {type} is not implemented yet.");
        }
    }
}
