/* Placeholder until the aws layer lands; delete when adding real sources. */
typedef int pt__aws_placeholder;
