using QuantPS.Kernels.MatMul;

namespace QuantPS.Inference.Engine;

// One token (generation): the projections that read the same input (Q, K and V; gate and up) run as one matmul job per
// weight type and row length instead of one each. llama.cpp runs them apart; every output is the same bits either way
// (MatMulDriver.MultiplyVectors), but the threads meet once instead of three times and the input is quantized once.
public sealed unsafe partial class InferenceContext
{
    private readonly WeightMatrix[] _sharedMatrices = new WeightMatrix[3];
    private readonly nint[] _sharedOutputs = new nint[3];
    private readonly nint[] _groupWeights = new nint[3];
    private readonly long[] _groupRows = new long[3];
    private readonly nint[] _groupOutputs = new nint[3];

    private void ProjectQueryKeyValue(LayerWeights layer, float* input, int n)
    {
        if (n != 1)
        {
            layer.Query.Multiply(input, n, _q, _workspace);
            layer.Key.Multiply(input, n, _k, _workspace);
            layer.Value.Multiply(input, n, _v, _workspace);
            return;
        }

        (_sharedMatrices[0], _sharedOutputs[0]) = (layer.Query, (nint)_q);
        (_sharedMatrices[1], _sharedOutputs[1]) = (layer.Key, (nint)_k);
        (_sharedMatrices[2], _sharedOutputs[2]) = (layer.Value, (nint)_v);
        MultiplySharedInput(input, 3);
    }

    private void ProjectGateUp(LayerWeights layer, float* input, int rows)
    {
        if (rows != 1)
        {
            layer.Gate.Multiply(input, rows, _gate, _workspace);
            layer.Up.Multiply(input, rows, _up, _workspace);
            return;
        }

        (_sharedMatrices[0], _sharedOutputs[0]) = (layer.Gate, (nint)_gate);
        (_sharedMatrices[1], _sharedOutputs[1]) = (layer.Up, (nint)_up);
        MultiplySharedInput(input, 2);
    }

    // The first count of _sharedMatrices times one input row, grouped by weight type and row length.
    private void MultiplySharedInput(float* input, int count)
    {
        var done = 0;
        for (var i = 0; i < count; i++)
        {
            if ((done & (1 << i)) != 0)
            {
                continue;
            }

            var first = _sharedMatrices[i];
            var group = 0;
            for (var j = i; j < count; j++)
            {
                var matrix = _sharedMatrices[j];
                if ((done & (1 << j)) == 0 && matrix.Type == first.Type && matrix.Columns == first.Columns)
                {
                    (_groupWeights[group], _groupRows[group], _groupOutputs[group]) = ((nint)matrix.Data, matrix.Rows, _sharedOutputs[j]);
                    group++;
                    done |= 1 << j;
                }
            }

            MatMulDriver.MultiplyVectors(first.Type, _groupWeights.AsSpan(0, group), _groupRows.AsSpan(0, group), _groupOutputs.AsSpan(0, group),
                first.Columns, input, inputRows: 1, _workspace);
        }
    }
}
