using System.Runtime.InteropServices;
using QuantPS.Kernels;
using QuantPS.Quantization;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Quantization;

/// <summary>Our quantizers against ggml_quantize_chunk's bytes (golden/tensors, README section 2).</summary>
public class TypeQuantizerGoldenTests
{
    private const int Rows = 12;
    private const int Columns = 1024;

    /// <summary>Types implemented so far, by ggml name; each must match both goldens exactly.</summary>
    public static readonly string[] Types =
    {
        "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_K", "q5_K", "q6_K", "q2_K", "q3_K", "iq4_nl", "iq4_xs", "mxfp4", "tq1_0", "tq2_0", "nvfp4", "q1_0", "q2_0",
        "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m",
    };

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var type in Types)
        {
            if (type is not ("iq2_xxs" or "iq2_xs" or "iq1_s"))
            {
                data.Add(type, "q"); // ggml requires an importance matrix for these three: no 'q' golden
            }

            if (type is not ("f16" or "bf16"))
            {
                data.Add(type, "q_imatrix");
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesGgmlBytes(string ggmlName, string variant)
    {
        Assert.True(GgmlTypeTraits.TryParse(ggmlName, out var info));
        var input = Floats("golden/tensors/input.f32");
        var importance = variant == "q_imatrix" ? Floats("golden/tensors/imatrix.f32") : Array.Empty<float>();
        var expected = File.ReadAllBytes(SharedData.File($"golden/tensors/{ggmlName}/{variant}.bin"));
        var actual = new byte[expected.Length];

        long written = TypeQuantizer.Quantize(info.Type, input, Columns, actual, importance);

        Assert.Equal(expected.Length, written);
        AssertSameBlocks(info, expected, actual);
    }

    [Fact]
    public void RequiresImportanceFollowsGgml()
    {
        foreach (var info in GgmlTypeTraits.All)
        {
            bool expected = info.Type is GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ1_S;
            Assert.Equal(expected, TypeQuantizer.RequiresImportance(info.Type));
        }
    }

    [Fact]
    public void MissingImportanceIsRefusedWithItsId()
    {
        var input = new float[256];
        var output = new byte[GgmlTypeTraits.Get(GgmlType.IQ2_XXS).TypeSize];
        var error = Assert.Throws<QuantizationException>(() => TypeQuantizer.Quantize(GgmlType.IQ2_XXS, input, 256, output, default));
        Assert.Equal(QuantizationErrorIds.ImportanceRequired, error.ErrorId);
    }

    [Theory]
    [InlineData(GgmlType.Q8_K)]
    [InlineData(GgmlType.Q8_1)]
    public void UnimplementedTypesAreRefusedWithTheirId(GgmlType type)
    {
        var output = new byte[GgmlTypeTraits.Get(type).TypeSize];
        var input = new float[GgmlTypeTraits.Get(type).BlockSize];
        var error = Assert.Throws<QuantizationException>(() => TypeQuantizer.Quantize(type, input, input.Length, output, default));
        Assert.Equal(QuantizationErrorIds.TypeNotSupported, error.ErrorId);
        Assert.False(TypeQuantizer.IsSupported(type));
    }

    [Theory]
    [InlineData(GgmlType.IQ3_S, false)]
    [InlineData(GgmlType.IQ2_XS, true)]
    [InlineData(GgmlType.IQ3_XXS, true)]
    public void NaNThatDefeatsTheLatticeSearchIsRefusedWithItsId(GgmlType type, bool withImportance)
    {
        // ggml fails an assertion here (no neighbour is nearer than FLT_MAX); we refuse instead.
        var input = Enumerable.Range(0, 256).Select(i => MathF.Sin(i) * 0.1f).ToArray();
        input[37] = float.NaN;
        var output = new byte[GgmlTypeTraits.Get(type).TypeSize];
        var importance = withImportance ? Enumerable.Repeat(1f, 256).ToArray() : Array.Empty<float>();
        var error = Assert.Throws<QuantizationException>(() => TypeQuantizer.Quantize(type, input, 256, output, importance));
        Assert.Equal(QuantizationErrorIds.GridSearchFailed, error.ErrorId);
    }

    [Fact]
    public void WrongImportanceLengthIsRefused()
    {
        var input = new float[256];
        var output = new byte[GgmlTypeTraits.Get(GgmlType.Q4_K).TypeSize];
        Assert.Throws<ArgumentException>(() => TypeQuantizer.Quantize(GgmlType.Q4_K, input, 256, output, new float[128]));
    }

    internal static float[] Floats(string relative) =>
        MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(SharedData.File(relative))).ToArray();

    // Names the row and the first differing block so a failure says where to look.
    private static void AssertSameBlocks(GgmlTypeInfo info, byte[] expected, byte[] actual)
    {
        int rowBytes = (int)info.RowSizeBytes(Columns);
        var bad = new List<string>();
        for (int row = 0; row < Rows; row++)
        {
            for (int block = 0; block < rowBytes / info.TypeSize; block++)
            {
                int at = row * rowBytes + block * info.TypeSize;
                var e = expected.AsSpan(at, info.TypeSize);
                var a = actual.AsSpan(at, info.TypeSize);
                if (!e.SequenceEqual(a))
                {
                    bad.Add($"row {row} block {block}: expected {Convert.ToHexString(e)} got {Convert.ToHexString(a)}");
                    break;
                }
            }
        }

        Assert.True(bad.Count == 0, $"{info.Name}: {bad.Count} row(s) differ; first block per row:\n" + string.Join("\n", bad));
    }
}
