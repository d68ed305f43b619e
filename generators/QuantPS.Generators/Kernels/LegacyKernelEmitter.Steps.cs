using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>The legacy family's steps: chunks a loop pass takes at each width, and what happens to the chunks left over.</summary>
internal sealed partial class LegacyKernelEmitter
{
    private static int ChunksPerStep(Width width) => width == Width.V512 ? 4 : 2;

    /// <summary>
    /// Whether a wider loop sends two leftover chunks through the 256-bit Dot (one pass of its loop) instead of the
    /// scalar loop: attention's Q8_0 keys of 64 values are all leftover at 512 bits. Dot and Dot4 add the same terms
    /// in the same order, so they still agree bit for bit. Blocks of one chunk only (a pair is then addressed as g
    /// blocks in; rows of bigger blocks leave no pair over).
    /// </summary>
    private static bool HasLeftoverPair(KernelModel model, Width width) =>
        ChunksPerStep(width) > ChunksPerStep(Width.V256) && model.Layout.BlockSize == Chunk;

    private static string LeftoverPairDot(int activationBytes, string activations) =>
        $"Dot{Width.V256.Suffix}(2 * {Chunk}, weights + g * TypeSize, {activations} + g * {Width.Text(activationBytes)})";

    private static int VectorsPerStep(Width width) => ChunksPerStep(width) * Chunk * 8 / width.Bits;
}
