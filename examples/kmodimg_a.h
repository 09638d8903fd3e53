/* SPDX-License-Identifier: GPL-2.0 */
#ifndef KMODIMG_A_H
#define KMODIMG_A_H

int kmodimg_a_add(int a, int b);

#endif
