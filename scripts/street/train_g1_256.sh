# Single GPU: Cityscapes 256x128, first of the g1 coarse-to-fine chain.
# The reference names this run label2city_256, but train_g1_512.sh loads checkpoints/label2city_256_g1;
# it is named label2city_256_g1 here so the chain works.
python train.py --name label2city_256_g1 \
--label_nc 35 --loadSize 256 --use_instance --fg \
--n_downsample_G 2 --num_D 1 \
--max_frames_per_gpu 6 --n_frames_total 6
