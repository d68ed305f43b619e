using QuantPS.Inference.Engine;
using Xunit;

namespace QuantPS.Tests.Engine;

/// <summary>
/// The Walsh-Hadamard rotation around a quantized KV cache: ggml_gen_hadamard's matrix (Sylvester order, 1/sqrt(n))
/// applied chunk by chunk, ggml's fwht order bit for bit, and its own inverse.
/// </summary>
public sealed class HadamardTests
{
    [Theory]
    [InlineData(64, 1)]
    [InlineData(64, 5)]
    [InlineData(128, 3)]
    [InlineData(256, 2)]
    public unsafe void Each_chunk_is_multiplied_by_the_orthonormal_Hadamard_matrix(int n, int chunks)
    {
        var random = new Random(n + chunks);
        var input = Enumerable.Range(0, n * chunks).Select(_ => (float)((random.NextDouble() * 4) - 2)).ToArray();
        var rotated = (float[])input.Clone();
        fixed (float* x = rotated)
        {
            Hadamard.Rotate(x, rotated.Length, n);
        }

        var matrix = Sylvester(n);
        for (var c = 0; c < chunks; c++)
        {
            for (var i = 0; i < n; i++)
            {
                var expected = Enumerable.Range(0, n).Sum(j => matrix[i, j] * input[(c * n) + j]);
                Assert.True(Math.Abs(expected - rotated[(c * n) + i]) <= 1e-5, $"n {n}, chunk {c}, row {i}: {rotated[(c * n) + i]} vs {expected}");
            }
        }

        // ggml's fwht: scale first, then butterflies of span 1, 2, ...; every float the same, whatever the vector width.
        var reference = (float[])input.Clone();
        for (var c = 0; c < chunks; c++)
        {
            var scale = 1f / MathF.Sqrt(n);
            for (var j = 0; j < n; j++)
            {
                reference[(c * n) + j] *= scale;
            }

            for (var span = 1; span < n; span <<= 1)
            {
                for (var i = 0; i < n; i += 2 * span)
                {
                    for (var j = 0; j < span; j++)
                    {
                        var u = reference[(c * n) + i + j];
                        var v = reference[(c * n) + i + span + j];
                        reference[(c * n) + i + j] = u + v;
                        reference[(c * n) + i + span + j] = u - v;
                    }
                }
            }
        }

        Assert.Equal(reference, rotated);

        // H H = I: twice gives the input back, up to rounding.
        fixed (float* x = rotated)
        {
            Hadamard.Rotate(x, rotated.Length, n);
        }

        Assert.All(Enumerable.Range(0, input.Length), i => Assert.True(Math.Abs(rotated[i] - input[i]) <= 1e-5f, $"{i}: {rotated[i]} vs {input[i]}"));
    }

    [Theory]
    [InlineData(64, 64)]
    [InlineData(128, 128)]
    [InlineData(192, 64)]
    [InlineData(256, 256)]
    [InlineData(320, 64)]
    public void The_key_rotation_is_the_largest_power_of_two_from_64_dividing_the_head(int head, int expected) =>
        Assert.Equal(expected, Hadamard.KeySize(head));

    // ggml_gen_hadamard: H1 = [1/sqrt(n)], then H2s = [[H, H], [H, -H]].
    private static double[,] Sylvester(int n)
    {
        var h = new double[n, n];
        h[0, 0] = 1 / Math.Sqrt(n);
        for (var s = 1; s < n; s *= 2)
        {
            for (var i = 0; i < s; i++)
            {
                for (var j = 0; j < s; j++)
                {
                    h[i + s, j] = h[i, j];
                    h[i, j + s] = h[i, j];
                    h[i + s, j + s] = -h[i, j];
                }
            }
        }

        return h;
    }
}
