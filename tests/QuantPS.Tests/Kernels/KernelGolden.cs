using System.Runtime.InteropServices;
using QuantPS.Kernels;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>Reads golden/tensors (section 2 of its README) and names the types this pass covers.</summary>
internal static class KernelGolden
{
    public const int Rows = 12;
    public const int Columns = 1024;

    /// <summary>Weight types with golden folders and generated kernels, by ggml name.</summary>
    public static readonly string[] WeightTypes =
    {
        "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "iq4_nl", "mxfp4", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "tq2_0",
        "q1_0", "q2_0", "iq4_xs", "nvfp4", "tq1_0", "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m",
    };

    /// <summary>Every type whose kernels this pass generates (F32 has no golden folder).</summary>
    public static readonly GgmlType[] KernelTypes =
    {
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q8_0, GgmlType.Q8_1, GgmlType.IQ4_NL, GgmlType.MXFP4, GgmlType.Q8_K,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.TQ2_0,
        GgmlType.Q1_0, GgmlType.Q2_0, GgmlType.IQ4_XS, GgmlType.NVFP4, GgmlType.TQ1_0,
        GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ3_XXS, GgmlType.IQ3_S, GgmlType.IQ1_S, GgmlType.IQ1_M,
    };

    public static GgmlTypeInfo Info(string ggmlName) =>
        GgmlTypeTraits.TryParse(ggmlName, out var info) ? info : throw new ArgumentException("unknown type " + ggmlName);

    /// <summary>
    /// The golden variants of a type: F16/BF16 are converted, not quantized, so they have no q_imatrix; IQ2_XXS, IQ2_XS and
    /// IQ1_S require an importance matrix (ggml_quantize_requires_imatrix), so they have only q_imatrix.
    /// </summary>
    public static string[] GoldenVariants(string ggmlName) => ggmlName switch
    {
        "f16" or "bf16" => new[] { "q" },
        "iq2_xxs" or "iq2_xs" or "iq1_s" => new[] { "q_imatrix" },
        _ => new[] { "q", "q_imatrix" },
    };

    /// <summary>"q" and, where the type has one, "q_imatrix".</summary>
    public static IEnumerable<string> Variants(string ggmlName) =>
        File.Exists(Path.Combine(Folder(ggmlName), "q_imatrix.bin")) ? new[] { "q", "q_imatrix" } : new[] { "q" };

    public static string Folder(string ggmlName) => SharedData.File("golden/tensors/" + ggmlName);

    public static byte[] Bytes(string relative) => File.ReadAllBytes(SharedData.File("golden/tensors/" + relative));

    public static float[] Floats(string relative) => MemoryMarshal.Cast<byte, float>(Bytes(relative)).ToArray();

    public static ushort[] UInt16s(string relative) => MemoryMarshal.Cast<byte, ushort>(Bytes(relative)).ToArray();

    /// <summary>Dequantized golden name for a weight variant: q → dequant.f32, q_imatrix → dequant_imatrix.f32.</summary>
    public static string Suffix(string variant) => variant == "q" ? "" : "_imatrix";

    /// <summary>Every vector width's name, as theory data for tests run once per width.</summary>
    public static TheoryData<string> Widths() => new(KernelWidth.All.Select(width => width.ToString()));

    /// <summary>"reference" or a <see cref="VectorWidth"/> name, so theory cases read well in logs.</summary>
    public static IEnumerable<string> Paths() => new[] { "reference" }.Concat(KernelWidth.All.Select(width => width.ToString()));

    public static DequantizeRowKernel Dequantizer(GgmlType type, string path) => path == "reference"
        ? GgmlTypeTraits.Get(type).DequantizeReference!
        : GgmlKernelCatalog.Dequantize(type, Enum.Parse<VectorWidth>(path))!;

    public static unsafe float[] Dequantize(DequantizeRowKernel kernel, byte[] row, long count)
    {
        var output = new float[count];
        fixed (byte* source = row)
        fixed (float* destination = output)
        {
            kernel(source, destination, count);
        }

        return output;
    }

    public static unsafe byte[] Quantize(QuantizeRowKernel kernel, GgmlTypeInfo type, float[] values)
    {
        var output = new byte[type.RowSizeBytes(values.Length)];
        fixed (float* source = values)
        fixed (byte* destination = output)
        {
            kernel(source, destination, values.Length);
        }

        return output;
    }

    public static unsafe float Dot(DotKernel kernel, byte[] weights, byte[] activations, long count)
    {
        fixed (byte* w = weights)
        fixed (byte* a = activations)
        {
            return kernel(count, w, a);
        }
    }

    public static byte[] Row(byte[] rows, GgmlTypeInfo type, int row)
    {
        var size = (int)type.RowSizeBytes(Columns);
        return rows.AsSpan(row * size, size).ToArray();
    }

    /// <summary>The first index where two float arrays differ bit for bit, or -1.</summary>
    public static int FirstBitDifference(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                return i;
            }
        }

        return expected.Length == actual.Length ? -1 : expected.Length;
    }
}
