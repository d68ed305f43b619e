using QuantPS.Inference.Engine;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Engine;

public sealed unsafe class HalfRoundingTests
{
    [Fact]
    public void Rounding_matches_ggmls_cpu_fp32_to_fp16_on_the_golden_inputs()
    {
        // golden/tensors/conversions: 400,000 floats (ties, subnormal boundaries, overflow, NaN payloads, random) and
        // ggml_cpu_fp32_to_fp16 of each. We keep floats: compare with the F16 result widened back.
        var input = ReadFloats("golden/tensors/conversions/f32_input.f32");
        var expectedBits = File.ReadAllBytes(SharedData.File("golden/tensors/conversions/f32_to_f16_cpu.u16"));
        var expected = new float[input.Length];
        for (var i = 0; i < input.Length; i++)
        {
            expected[i] = HalfRounding.ToSingle[BitConverter.ToUInt16(expectedBits, i * 2)];
        }

        var vector = (float[])input.Clone();
        fixed (float* p = vector)
        {
            HalfRounding.Round(p, vector.Length);
        }

        for (var i = 0; i < input.Length; i++)
        {
            var scalar = HalfRounding.Round(input[i]);
            if (float.IsNaN(expected[i]))
            {
                Assert.True(float.IsNaN(scalar) && float.IsNaN(vector[i]), $"input {i}");
                continue;
            }

            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(scalar), $"scalar, input {i}: {input[i]:R}");
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(vector[i]), $"vector, input {i}: {input[i]:R}");
        }
    }

    [Fact]
    public void The_table_widens_every_F16_pattern_as_ggml_does()
    {
        var expected = ReadFloats("golden/tensors/conversions/f16_all_to_f32_cpu.f32");
        for (var i = 0; i < 65536; i++)
        {
            Assert.True(float.IsNaN(expected[i]) ? float.IsNaN(HalfRounding.ToSingle[i])
                : BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(HalfRounding.ToSingle[i]), $"pattern {i:X4}");
        }
    }

    private static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(SharedData.File(path));
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
